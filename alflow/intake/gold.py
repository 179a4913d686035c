"""Gold items: the team's file of known answers, their answers scored, and the rule that holds exports.

A campaign's `gold` section names a file (the pool's id column, the columns the pool shows and the
model reads, and an answer column). alflow.round.mixing mixes its items into each batch under
opaque ids; when the vendor delivers, `score_gold` takes the answers to those items out of the
labels (they are never trained on, nor counted as new labels) and scores them against the file:
per annotator (each vote) and for the vendor (the label delivered for the item). `tally` sums the
ingest records' scores with a Wilson interval; `gold_rule` is the rule that pauses the campaign when
the vendor's accuracy on gold falls below `gold.pause_below` (a pause record of
alflow.ledger.control, lifted by `alflow resume` or by a recorded change of the threshold).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from alflow.config import CampaignConfig
from alflow.data import frames
from alflow.errors import DataValidationError
from alflow.exchange.formats.base import ANNOTATOR, ID, LABEL
from alflow.intake.quality import ANONYMOUS, wilson
from alflow.ledger.records import ControlRecord, IngestRecord, capped
from alflow.ledger.state import CampaignState

GOLD_RULE = "alflow (gold.pause_below)"
"""Who a pause the gold rule records is by (`ControlRecord.by`): how its pauses are told from people's."""


# --- the gold file ------------------------------------------------------------------------------------


def required_columns(config: CampaignConfig, features: list[str]) -> list[str]:
    """The columns a gold file needs besides its answer: the id, what the vendor is shown and what the model reads."""
    pool = config.pool
    content = [pool.text_column, pool.vector_column, pool.reference_column]
    shown = [c for c in content if c] or list(features)
    return list(dict.fromkeys([pool.id_column, *shown]))


def read_gold(config: CampaignConfig, features: list[str]) -> pd.DataFrame:
    """The gold file, checked: ids as text, distinct and present, every answer one of the classes,
    the columns the pool's items have. Raises DataValidationError in one line naming the file."""
    gold = config.gold
    assert gold is not None
    id_column, where = config.pool.id_column, gold.uri
    texts = [id_column, gold.answer_column, *([config.pool.text_column] if config.pool.text_column else [])]
    try:
        frame = frames.read_table(where, text_columns=texts)
    except (OSError, ValueError) as error:
        raise DataValidationError(f"gold file {where}: unreadable ({error})", reason="unreadable") from None
    missing = [c for c in [*required_columns(config, features), gold.answer_column] if c not in frame.columns]
    if missing:
        raise DataValidationError(
            f"gold file {where}: missing column(s) {', '.join(missing)} (a gold item has the pool's id, "
            f"the columns the vendor is shown and the model reads, and {gold.answer_column!r})",
            reason="missing_column",
        )
    if frame.empty:
        raise DataValidationError(f"gold file {where}: holds no item", reason="empty")
    frame = frame.assign(**{id_column: frame[id_column].astype(str), gold.answer_column: frame[gold.answer_column]})
    _check_rows(frame, config, where)
    frame[gold.answer_column] = frame[gold.answer_column].astype(str)
    return frame.reset_index(drop=True)


def _check_rows(frame: pd.DataFrame, config: CampaignConfig, where: str) -> None:
    gold, id_column = config.gold, config.pool.id_column
    assert gold is not None
    ids, answers = frame[id_column], frame[gold.answer_column]
    if (bad := frame[ids.isin(["", "nan", "None"]) | answers.isna()]).size:
        row = int(bad.index[0]) + 2
        raise DataValidationError(f"gold file {where}: row {row} has no id or no answer", reason="missing_value")
    if (dupes := ids[ids.duplicated()]).size:
        raise DataValidationError(f"gold file {where}: id {dupes.iloc[0]!r} appears twice", reason="duplicate_id")
    outside = frame[~answers.astype(str).isin(config.classes)]
    if len(outside):
        first = outside.iloc[0]
        raise DataValidationError(
            f"gold file {where}: the answer {capped(str(first[gold.answer_column]))!r} of {first[id_column]!r} "
            f"is not one of the classes ({', '.join(config.classes)})",
            reason="label_not_in_class_set",
        )


def check_gold(config: CampaignConfig, features: list[str], seed_ids: set[str], pool_hits: set[str]) -> str:
    """`alflow check`'s verdict on the gold file against the seed labels and the pool ids found among
    its ids (`pool_hits`); raises DataValidationError in one line, else a short description."""
    gold = config.gold
    assert gold is not None
    frame = read_gold(config, features)
    for found, where in ((pool_hits, "the pool"), (set(frame[config.pool.id_column]) & seed_ids, "the seed labels")):
        if found:
            raise DataValidationError(
                f"gold file {gold.uri}: id {sorted(found)[0]!r} is also in {where}; gold items must be items "
                "the vendor is never asked for otherwise: give them ids of their own",
                reason="gold_id_collision",
            )
    rule = f", pause below {gold.pause_below:g} after {gold.min_answers} answers" if gold.pause_below else ""
    return f"gold {gold.uri}: {len(frame)} items, {gold.rate:.0%} of each batch{rule}"


def gold_count(pool_items: int, rate: float) -> int:
    """Gold items mixed into a batch of `pool_items` so that they are about `rate` of it (at least one)."""
    if pool_items <= 0:
        return 0
    return max(1, round(pool_items * rate / (1 - rate)))


def pool_share(total: int, rate: float | None) -> int:
    """The most pool items a batch of at most `total` items may hold with its gold items (no gold: all)."""
    if rate is None:
        return total
    n = total
    while n > 0 and n + gold_count(n, rate) > total:
        n -= 1
    return n


# --- answers scored -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class GoldScore:
    """One file's answers to gold items: the labels delivered (taken out of the file's labels), how
    many were right of how many `scored` (an answer the gold file still holds), and each
    annotator's [right, answered] over their votes."""

    labels: dict[str, str] = field(default_factory=dict)
    right: int = 0
    scored: int = 0
    annotators: dict[str, list[int]] = field(default_factory=dict)


def score_gold(human: pd.DataFrame, labels: dict[str, str], answers: dict[str, str | None]) -> GoldScore:
    """Score the answers to gold items among `labels` (the file's new labels; opaque id -> label)
    against `answers` (opaque id -> the true class, None when the gold file no longer has it: kept,
    not scored); each annotator's votes on those items (`human`: id, label, annotator) scored too."""
    gold = {i: label for i, label in labels.items() if i in answers}
    if not gold:
        return GoldScore()
    right = sum(1 for i, label in gold.items() if answers[i] is not None and label == answers[i])
    votes = human[human[ID].isin([i for i in gold if answers[i] is not None])]
    per: dict[str, list[int]] = {}
    for item, label, who in zip(votes[ID], votes[LABEL], votes[ANNOTATOR], strict=True):
        name = capped(str(who)) if who is not None else ANONYMOUS
        score = per.setdefault(name, [0, 0])
        score[0] += int(label == answers[item])
        score[1] += 1
    scored = sum(1 for i in gold if answers[i] is not None)
    return GoldScore(gold, right, scored, per)


@dataclass(frozen=True)
class Accuracy:
    """Right answers out of `answered`, with its 95 % Wilson interval."""

    right: int
    answered: int

    @property
    def value(self) -> float:
        return self.right / self.answered if self.answered else math.nan

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.right, self.answered)

    def text(self) -> str:
        """'0.82 (0.71-0.90, 60 answers)'."""
        low, high = self.interval
        return f"{self.value:.2f} ({low:.2f}-{high:.2f}, {self.answered} answers)"


@dataclass(frozen=True)
class GoldTally:
    """The vendor's accuracy on gold (the labels it delivered) and each annotator's (their votes)."""

    vendor: Accuracy
    annotators: dict[str, Accuracy]


def tally(records: list[IngestRecord]) -> GoldTally:
    """Sum the gold scores of ingest records (each gold item's answer is in one record only)."""
    per: dict[str, list[int]] = {}
    for record in records:
        for name, (good, total) in record.gold_annotators.items():
            score = per.setdefault(name, [0, 0])
            score[0] += good
            score[1] += total
    vendor = Accuracy(sum(r.gold_right for r in records), sum(r.gold_scored for r in records))
    return GoldTally(vendor, {n: Accuracy(*s) for n, s in sorted(per.items())})


def campaign_tally(state: CampaignState, *, since: str | None = None) -> GoldTally:
    """The campaign's tally, over ingest records made after `since` (an ISO time) when given."""
    records = [r for rs in state.ingests.values() for r in rs if since is None or r.ingested_at > since]
    return tally(records)


def answers_of(
    config: CampaignConfig, state: CampaignState, round_: int, gold: pd.DataFrame | None
) -> dict[str, str | None]:
    """A round's gold items: opaque id -> the true class from the gold file (`gold`, read), or None
    when the file no longer holds it (or the campaign has no gold section any more)."""
    record = state.rounds.get(round_)
    if record is None or record.gold is None:
        return {}
    known: dict[str, str] = {}
    if gold is not None and config.gold is not None:
        known = dict(zip(gold[config.pool.id_column], gold[config.gold.answer_column], strict=True))
    return {o: known.get(i) for o, i in zip(record.gold.ids, record.gold.items, strict=True)}


# --- the rule -----------------------------------------------------------------------------------------


def is_gold_pause(record: ControlRecord | None) -> bool:
    return record is not None and record.action == "pause" and record.by == GOLD_RULE


def gold_rule(config: CampaignConfig, state: CampaignState) -> tuple[bool, str] | None:
    """What the gold rule does now: (True, why) to pause the campaign, (False, why) to lift its own
    pause, or None. It pauses when the vendor's accuracy on the gold answers ingested since the last
    resume (at least `min_answers`) is below `pause_below`; its pause is lifted when a change of the
    threshold recorded since (`alflow change`, or a round on the edited campaign file) no longer
    holds the vendor below it. A pause someone made is never touched."""
    gold = config.gold
    last = state.controls[-1] if state.controls else None
    threshold = gold.pause_below if gold is not None else None
    if last is not None and last.action == "pause":
        if not is_gold_pause(last):
            return None
        since = [c for c in state.changes if c.at >= last.at and "gold_pause_below" in c.changed]
        if not since:
            return None
        window = _window_start(state, before=last)
        accuracy = campaign_tally(state, since=window).vendor
        if threshold is None or accuracy.value >= threshold:
            return False, f"gold.pause_below changed to {threshold}: the vendor's gold accuracy {accuracy.text()}"
        return None
    if gold is None or threshold is None:
        return None
    accuracy = campaign_tally(state, since=last.at if last is not None else None).vendor
    if accuracy.answered < gold.min_answers or accuracy.value >= threshold:
        return None
    return True, (
        f"the vendor's gold accuracy {accuracy.text()} is below gold.pause_below {threshold:g}: exports held "
        "(a changed gold.pause_below also lifts this)"
    )


def _window_start(state: CampaignState, *, before: ControlRecord) -> str | None:
    """When the evidence behind a pause began: the last resume before it, or None (the campaign's start)."""
    resumes = [c for c in state.controls if c.seq < before.seq and c.action == "resume"]
    return resumes[-1].at if resumes else None
