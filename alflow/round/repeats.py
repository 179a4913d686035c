"""Repeat labels in live rounds (`vendor.repeats`): items the vendor labeled, asked again where it pays.

The rule is the simulation's `adaptive` plan (alflow.operations.noisy, docs/ANNOTATORS.md). Every
vote so far (alflow.ledger.repeat_votes: one per round that asked an item, its annotator when the
file names one) goes through Dawid-Skene with the prior (alflow.intake.quality), each annotator's
prior seeded by their gold answers, each item's prior the campaign model's out-of-fold probability
(tempered); an item's label is wrong with probability 1 - its posterior for that label. Up to
`share` of a pool batch goes to the items whose label is wrong with at least `when` (by default
`quality.repeat_when`, by the class count), likeliest
first: each replaces the lowest-ranked new item, so the batch (and the labels it costs) keeps its
size. Items of the vendor only (never seed labels, items outside the pool, items sent for review,
items with an answer still awaited, or items with `max_votes` votes already).

A repeat goes out under its own id, at a random position, with a score between its neighbours'
and the model's out-of-fold guess as its prediction (the guess a pool item gets, from a model that
did not see its label): nothing in the exported file tells it apart. The round record
(`RoundRecord.repeats`) and batch.json say which items are repeats and why.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from alflow.intake.gold import campaign_tally
from alflow.intake.quality import ask_again, dawid_skene_em, prior_confusion, repeat_when, seeded_prior, tempered
from alflow.ledger.records import RepeatMix
from alflow.ledger.repeat_votes import Vote, votes_of
from alflow.model import estimators
from alflow.round.context import RoundContext
from alflow.round.decide import Batch, Decision
from alflow.round.mixing import neighbour_score
from alflow.round.pool import item_rows

DRAWS = 2_022  # the repeats' positions: their own stream beside the selection's and the gold's
WEAK = 0.7  # an annotator estimated below this accuracy is named as a reason
UNNAMED = "(unnamed)"  # the annotator of a vote whose file names several (or none)


@dataclass(frozen=True)
class Doubts:
    """Labeled items that may be asked again: their current `labels`, the probability each is wrong,
    why in words, and the model's out-of-fold guess (None where it had none)."""

    ids: list[str]
    labels: list[str]
    wrong: np.ndarray
    reasons: list[str]
    guesses: list[str | None]


def candidates(ctx: RoundContext, votes: dict[str, list[Vote]], max_votes: int) -> list[str]:
    """The vendor's labeled pool items that may be asked again (see the module)."""
    state, labeled = ctx.state, ctx.labeled
    waiting = {i for r in state.outstanding for i in state.missing(r)}
    barred = state.outside_ids | state.reviewed_ids | waiting
    return sorted(i for i, its in votes.items() if i in labeled and i not in barred and len(its) < max_votes)


def model_view(ctx: RoundContext, ids: list[str]) -> np.ndarray:
    """(len(ids), classes): the campaign model's out-of-fold probabilities of each labeled item in
    `ids` (cross-validated on every label), zeros where it has none (a class with one label)."""
    classes = ctx.config.classes
    view = np.zeros((len(ids), len(classes)))
    labeled = sorted(ctx.labeled)
    rows = item_rows(ctx, labeled, list(ctx.state.rounds.values()))
    y = np.array([ctx.labeled[i] for i in labeled])
    model = estimators.build_model(ctx.config.model, seed=ctx.config.seed)
    found = estimators.cross_validated_proba(model, ctx.model_input(rows), y, seed=ctx.config.seed)
    if found is None:
        return view
    proba, _, columns = found
    values, counts = np.unique(y, return_counts=True)
    kept = [i for i, label in zip(labeled, y, strict=True) if label in set(values[counts >= 2])]
    where = {i: n for n, i in enumerate(kept)}
    columns_at = [classes.index(str(c)) for c in columns]
    for n, id_ in enumerate(ids):
        if id_ in where:
            view[n, columns_at] = proba[where[id_]]
    return view


def _annotator_priors(ctx: RoundContext, names: list[str]) -> np.ndarray:
    k, gold = len(ctx.config.classes), campaign_tally(ctx.state).annotators
    return np.stack(
        [seeded_prior(k, gold[w].right, gold[w].answered) if w in gold else prior_confusion(k) for w in names]
    )


def doubts(ctx: RoundContext, max_votes: int) -> Doubts:
    """Every candidate's probability that its label is wrong, by the votes and the model (see the module)."""
    classes, state = ctx.config.classes, ctx.state
    votes = votes_of({r: rec.batch_ids for r, rec in state.rounds.items()}, state.ingests)
    ids = candidates(ctx, votes, max_votes)
    if not ids:
        return Doubts([], [], np.zeros(0), [], [])
    items = sorted(votes)
    flat = [(n, v.annotator or UNNAMED, v.label) for n, i in enumerate(items) for v in votes[i]]
    names = sorted({w for _, w, _ in flat})
    view = model_view(ctx, items)
    known = view.sum(axis=1) > 0
    item_prior = np.full(view.shape, 1.0 / len(classes))
    item_prior[known] = tempered(view[known])
    quality = dawid_skene_em(
        np.array([n for n, _, _ in flat]),
        np.array([names.index(w) for _, w, _ in flat]),
        np.array([classes.index(label) for _, _, label in flat]),
        shape=(len(items), len(names), len(classes)),
        prior=_annotator_priors(ctx, names),
        item_prior=item_prior,
    )
    accuracy = dict(zip(names, quality.accuracy.tolist(), strict=True))
    at = [items.index(i) for i in ids]
    labels = [ctx.labeled[i] for i in ids]
    wrong = np.array([1 - quality.posterior[n, classes.index(label)] for n, label in zip(at, labels, strict=True)])
    reasons = [
        why(votes[i], accuracy, view[n], classes, label, w)
        for i, n, label, w in zip(ids, at, labels, wrong, strict=True)
    ]
    guesses = [classes[int(view[n].argmax())] if known[n] else None for n in at]
    return Doubts(ids, labels, wrong, reasons, guesses)


def why(
    votes: list[Vote], accuracy: dict[str, float], view: np.ndarray, classes: tuple[str, ...], label: str, wrong: float
) -> str:
    """Why an item's label is in doubt, in words: split votes, a weak annotator, a model that disagrees."""
    parts = []
    said = [v.label for v in votes]
    if len(set(said)) > 1:
        parts.append("votes split (" + ", ".join(said) + ")")
    weak = sorted({v.annotator for v in votes if v.annotator and accuracy.get(v.annotator, 1.0) < WEAK})
    parts += [f"a weak annotator ({w}, estimated {accuracy[w]:.0%} right)" for w in weak]
    if view.sum() > 0 and classes[int(view.argmax())] != label and view.max() >= 0.5:
        parts.append(f"the model disagrees ({classes[int(view.argmax())]} at {view.max():.0%})")
    return f"wrong with probability {wrong:.2f}: " + ("; ".join(parts) or "the votes and the model together")


def mix_repeats(ctx: RoundContext, decision: Decision) -> Decision:
    """The decision with up to `vendor.repeats.share` of its pool batch given to repeats (`decision.repeats`)."""
    section, batch = ctx.config.vendor.repeats, decision.batch
    if section is None or batch is None or not batch.size or batch.stream is not None:
        return decision
    most = int(batch.size * section.share)
    found = doubts(ctx, section.max_votes) if most else None
    when = section.when if section.when is not None else repeat_when(len(ctx.config.classes))
    chosen = ask_again(found.wrong, most, when=when) if found is not None else []
    if found is None or not chosen:
        return decision
    kept = Batch(batch.items.iloc[: batch.size - len(chosen)].reset_index(drop=True))
    rng = np.random.default_rng([ctx.config.seed, ctx.round, DRAWS])
    positions = sorted(int(p) for p in rng.choice(batch.size, size=len(chosen), replace=False))
    rows = kept.items.to_dict("records")
    for j, (position, k) in enumerate(zip(positions, chosen, strict=True)):
        score = neighbour_score(kept, position - j) if kept.size else float(found.wrong[k])
        rows.insert(position, {"id": found.ids[k], "score": score, "predicted": found.guesses[k], "origin": "pool"})
    items = pd.DataFrame(rows, columns=list(batch.items.columns))
    mix = RepeatMix(
        ids=[found.ids[k] for k in chosen],
        labels=[found.labels[k] for k in chosen],
        wrong=[round(float(found.wrong[k]), 6) for k in chosen],
        reasons=[found.reasons[k] for k in chosen],
    )
    return replace(decision, batch=replace(batch, items=items), repeats=mix)
