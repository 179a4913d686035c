"""Simulated annotators: who errs, how often and into which class (docs/ANNOTATORS.md).

A spec file (YAML) lists 1 to 10 annotators, each with an overall `error_rate`, optional per-class
`error_rates`, optional `confusions` (for a true class, the weights of the wrong classes it is
mistaken for; evenly spread otherwise) and a `share` of the requests the vendor routes to them;
or it names `from_gold`, a CSV of the vendor's answers on known-answer items (columns
annotator, label, answer), from which each annotator's confusion is estimated. Every annotation is
drawn ahead of a replay (`draw_annotations`), so each labeling plan sees the same vendor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from alflow.data import frames
from alflow.errors import ConfigError

MAX_ANNOTATORS = 10


@dataclass(frozen=True)
class Annotator:
    """One simulated annotator: confusion[true, said] (rows sum to 1) over the campaign's classes."""

    name: str
    confusion: np.ndarray = field(repr=False)
    share: float = 1.0

    @property
    def accuracy(self) -> float:
        """The share of right answers on classes drawn evenly."""
        return float(np.mean(np.diag(self.confusion)))


def load_annotators(path: str | Path, classes: tuple[str, ...]) -> tuple[Annotator, ...]:
    """The annotators a spec file describes. Raises ConfigError naming the file and the bad entry."""
    where = Path(path)
    try:
        raw = yaml.safe_load(where.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"--annotators {where}: cannot be read: {str(error).splitlines()[0]}") from None
    if not isinstance(raw, Mapping) or not ({"annotators", "from_gold"} & set(raw)):
        raise ConfigError(f"--annotators {where}: expected a mapping with 'annotators' (a list) or 'from_gold' (a CSV)")
    if "from_gold" in raw:
        gold = Path(str(raw["from_gold"]))
        return estimate_annotators(frames.read_table(str(where.parent / gold), text_columns=_GOLD_COLUMNS), classes)
    entries = raw["annotators"]
    if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_ANNOTATORS:
        raise ConfigError(f"--annotators {where}: 'annotators' must be a list of 1 to {MAX_ANNOTATORS} entries")
    crowd = tuple(_annotator(entry, n, classes, where) for n, entry in enumerate(entries))
    if len({a.name for a in crowd}) < len(crowd):
        raise ConfigError(f"--annotators {where}: two annotators share a name")
    return crowd


def _annotator(entry: Any, n: int, classes: tuple[str, ...], where: Path) -> Annotator:
    at = f"--annotators {where}: annotator {n + 1}"
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{at}: expected a mapping with error_rate (and name, share, error_rates, confusions)")
    unknown = set(entry) - {"name", "error_rate", "error_rates", "confusions", "share"}
    if unknown:
        raise ConfigError(f"{at}: unknown keys {sorted(unknown)}")
    rates = {c: _rate(entry.get("error_rate", 0.0), f"{at}: error_rate") for c in classes}
    for cls, rate in _mapping(entry.get("error_rates", {}), f"{at}: error_rates").items():
        rates[_known(cls, classes, f"{at}: error_rates")] = _rate(rate, f"{at}: error_rates[{cls}]")
    share = entry.get("share", 1.0)
    if not isinstance(share, int | float) or isinstance(share, bool) or share <= 0:
        raise ConfigError(f"{at}: share={share!r} must be a number > 0")
    confusions = _mapping(entry.get("confusions", {}), f"{at}: confusions")
    confusion = np.zeros((len(classes), len(classes)))
    for t, true in enumerate(classes):
        weights = _wrong_weights(confusions.get(true), true, classes, f"{at}: confusions[{true}]")
        confusion[t] = rates[true] * weights
        confusion[t, t] = 1 - rates[true]
    return Annotator(str(entry.get("name", f"annotator-{n + 1}")), confusion, float(share))


def _wrong_weights(given: Any, true: str, classes: tuple[str, ...], at: str) -> np.ndarray:
    """Where an annotator's wrong answers on `true` go: the given weights, or evenly over the others."""
    weights = np.array([0.0 if c == true else 1.0 for c in classes])
    if given is not None:
        weights[:] = 0.0
        for cls, weight in _mapping(given, at).items():
            if _known(cls, classes, at) == true or not isinstance(weight, int | float) or weight < 0:
                raise ConfigError(f"{at}: {cls!r}: {weight!r} must be a weight >= 0 of a class other than {true!r}")
            weights[classes.index(str(cls))] = float(weight)
    total = weights.sum()
    if total <= 0:
        raise ConfigError(f"{at}: the weights add up to 0; give at least one wrong class a weight > 0")
    return weights / total


def _mapping(value: Any, at: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{at}: expected a mapping of class -> value, got {value!r}")
    return {str(k): v for k, v in value.items()}


def _known(cls: Any, classes: tuple[str, ...], at: str) -> str:
    if str(cls) not in classes:
        raise ConfigError(f"{at}: class {cls!r} is not in the campaign's classes {list(classes)}")
    return str(cls)


def _rate(value: Any, at: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value < 1:
        raise ConfigError(f"{at}={value!r} must be a number in [0, 1)")
    return float(value)


_GOLD_COLUMNS = ["annotator", "label", "answer"]


def estimate_annotators(gold: Any, classes: tuple[str, ...]) -> tuple[Annotator, ...]:
    """Annotators estimated from their answers on gold (a frame: annotator, label, answer).

    Each confusion row is the annotator's answers on that true class plus one pseudo-answer spread as
    `error` would be (so a class they never saw is assumed right 80 % of the time); the share is their
    part of the answers. Raises ConfigError for missing columns or labels outside the classes.
    """
    missing = [c for c in _GOLD_COLUMNS if c not in gold.columns]
    if missing:
        raise ConfigError(f"from_gold: columns {missing} missing; expected {_GOLD_COLUMNS}")
    outside = sorted((set(gold["label"]) | set(gold["answer"])) - set(classes))
    if outside:
        raise ConfigError(f"from_gold: labels outside the campaign's classes: {outside[:5]}")
    k = len(classes)
    prior = np.full((k, k), 0.2 / max(k - 1, 1))
    np.fill_diagonal(prior, 0.8)
    crowd = []
    for name, answers in gold.groupby("annotator", sort=True):
        counts = prior.copy()
        np.add.at(
            counts, ([classes.index(a) for a in answers["answer"]], [classes.index(s) for s in answers["label"]]), 1
        )
        crowd.append(Annotator(str(name), counts / counts.sum(axis=1, keepdims=True), float(len(answers))))
    if not crowd or len(crowd) > MAX_ANNOTATORS:
        raise ConfigError(f"from_gold: {len(crowd)} annotators; 1 to {MAX_ANNOTATORS} can be simulated")
    return tuple(crowd)


@dataclass(frozen=True)
class Annotations:
    """Every annotation a replay may ask: item i's j-th request goes to `who[i, j]`, who says `said[i, j]`."""

    who: np.ndarray = field(repr=False)  # (items, annotators): a routing order without repeats per item
    said: np.ndarray = field(repr=False)  # (items, annotators): class indices


def draw_annotations(crowd: tuple[Annotator, ...], truth: np.ndarray, *, rng: np.random.Generator) -> Annotations:
    """Each item's routing (annotators drawn by share, without replacement) and what each would say.

    `truth` holds class indices. Deterministic for a given generator state.
    """
    shares = np.array([a.share for a in crowd], dtype=float)
    keys = np.log(shares / shares.sum()) + rng.gumbel(size=(truth.size, len(crowd)))
    who = np.argsort(-keys, axis=1)  # Gumbel top-k: weighted sampling without replacement
    confusion = np.stack([a.confusion for a in crowd])  # (annotators, true, said)
    cumulative = np.cumsum(confusion[who, truth[:, None]], axis=2)  # (items, annotators, said)
    draws = rng.random(size=who.shape)[:, :, None]
    said = np.minimum((cumulative < draws).sum(axis=2), confusion.shape[2] - 1)
    return Annotations(who, said)
