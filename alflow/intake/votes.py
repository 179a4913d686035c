"""The verdict on one delivery file, decided as its votes stream in: which become labels, and why
each other row is refused.

A `Judge` takes the file's chunks of votes (alflow.exchange.formats reads them) one at a time:
each row is checked on arrival (the reader's own problem first, then the rules below, vectorised
over the chunk), a refused row goes to the `sink` at once and only the valid votes for the batch
are kept, so memory is one chunk plus the batch's votes whatever the file's size. At the end
`verdict` aggregates the kept votes (one vote per annotator and item; majority with a stated tie
rule, or Dawid-Skene) and applies the rules against labels already accepted: the same label
again is a late duplicate, a different one a conflicting relabel, except in a Judge that
`revise`s (a new version of a vote read before, as Label Studio rewrites an annotation changed in
it): there the new label replaces the accepted one (`revised`).

Votes marked `human_annotated: "no"` (the vendor's own auto-labels, as Ground Truth writes them)
are never aggregated with human votes: they become `machine_labels`, apart from `labels`.

Row reasons (machine-readable, in the ingest record and the quarantine): those of the readers
(alflow.exchange.formats.reading: undecodable, too_long, malformed, bad_value, multiple_labels,
wrong_tag_names, rejected_by_verifier, rejected_in_review), then missing_id, missing_label,
label_not_in_class_set, id_not_in_batch, duplicate_vote, tie, too_few_votes, disagreement
(numbers: votes spread wider than vendor.max_spread), conflicting_relabel. A campaign of another kind of label
(alflow.kinds) refuses a label by that kind's rules instead of label_not_in_class_set
(tag_not_in_class_set, empty_tags_not_allowed, not_a_number, out_of_range) and keeps each valid
label in its one spelling (tags in class order, a number as a plain decimal).
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from alflow import kinds
from alflow.exchange.formats import reading
from alflow.exchange.formats.base import ANNOTATOR, ID, LABEL, META_COLUMNS
from alflow.exchange.formats.reading import DETAIL, PROBLEM, ROW, SECONDS
from alflow.intake.aggregation import dawid_skene, majority
from alflow.intake.gold import GoldScore, score_gold
from alflow.intake.kind_votes import number_votes, tag_votes
from alflow.intake.quality import aggregate_with_quality
from alflow.kinds import LABEL_NOT_IN_CLASS_SET, NOT_A_NUMBER, TAG_NOT_IN_CLASS_SET, LabelKind
from alflow.ledger.records import FIELD_CAP, RejectedRow, capped
from alflow.values import plain

ROW_RULES = ("missing_id", "missing_label", "label_not_in_class_set", "id_not_in_batch")
SAMPLE = 100  # rejected rows an ingest record keeps; the quarantine keeps more (ingest.QUARANTINE_ROWS a reason)
MAX_ANNOTATORS = 1_000  # annotator names an ingest record lists
REJECTED_COLUMNS = ["row", "id", "label", "annotator", "reason", "accepted_label", "detail"]

Sink = Callable[[pd.DataFrame], None]  # receives each chunk's refused rows (REJECTED_COLUMNS, capped)


@dataclass(frozen=True)
class Verdict:
    """What one delivery file yields: labels to accept, rows refused, and how the votes agreed.

    `rejected` is the first SAMPLE refused rows in file order, `refused_rows` how many there were,
    `reasons` how many of each; `items` the batch items the file had a valid vote for.
    """

    labels: dict[str, str]
    machine_labels: dict[str, str]
    rejected: list[RejectedRow]
    refused_rows: int
    reasons: dict[str, int]
    duplicates: list[str]
    agreement: float | None
    annotators: list[str]
    votes: int
    items: list[str]
    metadata: dict[str, dict]
    annotator_accuracy: dict[str, float] = field(default_factory=dict)  # aggregation "quality", with evidence
    revised: dict[str, str] = field(default_factory=dict)  # labels replacing accepted ones (a Judge that revises)
    gold: GoldScore = field(default_factory=GoldScore)  # answers to gold items: never in `labels`
    seconds: dict[str, float] = field(default_factory=dict)  # labels given here: the seconds their votes took
    voters: dict[str, str] = field(
        default_factory=dict
    )  # labels given here by one named annotator, in a file of several


def normalise(votes: pd.DataFrame, first_row: int = 1) -> pd.DataFrame:
    """A frame of votes not made by a reader (a notebook's, a test's) in the readers' shape."""
    out = pd.DataFrame(index=range(len(votes)))
    out[ROW] = range(first_row, first_row + len(votes))
    problems: list[str | None] = [None] * len(votes)
    for column in (ID, LABEL, ANNOTATOR):
        values = votes[column].tolist() if column in votes.columns else [None] * len(votes)
        cells = [reading.cell(plain(v)) for v in values]
        out[column] = pd.Series([c[0] for c in cells], dtype=object)
        problems = [p or c[1] for p, c in zip(problems, cells, strict=True)]
    for column in META_COLUMNS:
        out[column] = votes[column].tolist() if column in votes.columns else None
    out[PROBLEM] = pd.Series(problems, dtype=object)
    out[DETAIL] = None
    return out


def row_problems(
    votes: pd.DataFrame, *, classes: tuple[str, ...], batch: set[str], kind: LabelKind | None = None
) -> pd.Series:
    """Each row's first reason to be refused (None for a valid row): the reader's, then ROW_RULES.

    With a `kind` other than class, its reasons replace label_not_in_class_set and `votes`' label
    column is rewritten in place to the kind's one spelling."""
    problem = votes[PROBLEM].astype(object).copy()
    if kind is not None and not kind.is_class:
        return _kind_problems(votes, problem, kind, batch)
    checks = (
        votes[ID].isna(),
        votes[LABEL].isna(),
        ~votes[LABEL].isin(classes),
        ~votes[ID].isin(batch),
    )
    for reason, failed in zip(ROW_RULES, checks, strict=True):
        problem[problem.isna() & failed] = reason
    return problem


def _kind_problems(votes: pd.DataFrame, problem: pd.Series, kind: LabelKind, batch: set[str]) -> pd.Series:
    texts, reasons = kind.parse_column(votes[LABEL])
    checks = (votes[ID].isna(), votes[LABEL].isna(), reasons.notna(), ~votes[ID].isin(batch))
    for reason, failed in zip(("missing_id", "missing_label", "kind", "id_not_in_batch"), checks, strict=True):
        fresh = problem.isna() & failed
        problem[fresh] = reasons[fresh] if reason == "kind" else reason
    valid = problem.isna()
    votes.loc[valid, LABEL] = texts[valid]
    return problem


def label_hint(label: str, classes: tuple[str, ...]) -> str | None:
    """ "did you mean 'nonspam'?" for a label that is a class spelled otherwise (case, spaces, a typo);
    None when no class is close."""
    by_position = kinds.index_hint([label.strip()], classes)
    if by_position is not None:
        return by_position
    folded = {c.strip().casefold(): c for c in classes}
    key: str | None = label.strip().casefold()
    if key not in folded:
        matches = difflib.get_close_matches(str(key), list(folded), n=1, cutoff=0.75)
        key = matches[0] if matches else None
    return None if key is None else f"did you mean {folded[key]!r}?"


def _is_machine(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lower() == "no"


class Judge:
    """Decides one delivery file from its chunks of votes (see the module)."""

    def __init__(
        self,
        *,
        classes: tuple[str, ...],
        batch: set[str],
        accepted: dict[str, str],
        annotators: int = 1,
        aggregation: str = "majority",
        tie_rule: str = "outstanding",
        sink: Sink | None = None,
        kind: LabelKind | None = None,
        max_spread: float | None = None,
        revise: bool = False,
        gold: dict[str, str | None] | None = None,
        gold_record: dict[str, tuple[int, int]] | None = None,
    ) -> None:
        self.classes, self.batch, self.accepted, self.kind = classes, batch, accepted, kind
        self.revise = revise  # a new version of a vote read before: its label replaces the accepted one
        self.gold = gold or {}  # gold items of the batch: opaque id -> true class (alflow.intake.gold)
        self.gold_record = gold_record  # annotator -> (right, answered) on gold so far: seeds "quality"
        self.max_spread = max_spread
        self.annotators, self.aggregation, self.tie_rule = annotators, aggregation, tie_rule
        self.sink = sink
        self.rows = 0
        self.reasons: Counter[str] = Counter()
        self.sample: list[dict[str, Any]] = []
        self._kept: list[pd.DataFrame] = []
        self._seen: set[tuple[Any, Any]] = set()

    def add(self, chunk: pd.DataFrame) -> None:
        """Judge one chunk: refused rows to the sink now, valid votes kept for the verdict."""
        if PROBLEM not in chunk.columns:
            chunk = normalise(chunk, self.rows + 1)
        chunk = chunk.reset_index(drop=True)
        if chunk[SECONDS].notna().any():  # time spent as the tool wrote it (a CSV's text): seconds, or none
            chunk[SECONDS] = pd.Series([reading.seconds(v) for v in chunk[SECONDS]], dtype=object)
        self.rows += len(chunk)
        problem = row_problems(chunk, classes=self.classes, batch=self.batch, kind=self.kind)
        for position in chunk.index[problem.isna() & chunk[ANNOTATOR].notna()]:
            key = (chunk.at[position, ID], chunk.at[position, ANNOTATOR])
            if key in self._seen:
                problem[position] = "duplicate_vote"  # one annotator, one vote per item: the first counts
            self._seen.add(key)
        unknown = (problem == LABEL_NOT_IN_CLASS_SET).to_numpy()
        if unknown.any():  # a label spelled unlike the class set's: name the class it may mean
            hints = {label: label_hint(str(label), self.classes) for label in set(chunk.loc[unknown, LABEL])}
            chunk.loc[unknown, DETAIL] = chunk.loc[unknown, LABEL].map(hints)
        slips = problem.isin((TAG_NOT_IN_CLASS_SET, NOT_A_NUMBER)).to_numpy() & chunk[DETAIL].isna().to_numpy()
        if slips.any() and self.kind is not None:  # a tag spelled otherwise, a decimal comma: say so
            kind = self.kind
            chunk.loc[slips, DETAIL] = chunk.loc[slips, LABEL].map(lambda label: kinds.hint(label, kind))
        self._refuse(chunk[problem.notna()].assign(reason=problem[problem.notna()], accepted_label=None))
        self._kept.append(chunk[problem.isna()])

    def _refuse(self, rows: pd.DataFrame) -> None:
        if rows.empty:
            return
        rows = rows[REJECTED_COLUMNS].copy()
        for column in ("id", "label", "annotator", "detail"):
            values = rows[column].tolist()
            if _longest(values) > FIELD_CAP:
                rows[column] = pd.Series([capped(v) for v in values], index=rows.index, dtype=object)
        self.reasons.update(rows["reason"])
        if len(self.sample) < SAMPLE:
            head = rows.head(SAMPLE - len(self.sample)).astype(object)
            self.sample += [{str(k): plain(v) for k, v in r.items()} for r in head.to_dict("records")]
        if self.sink is not None:
            self.sink(rows)

    def verdict(self) -> Verdict:
        """Aggregate the kept votes and decide the file; refuses (to the sink) what aggregation leaves out."""
        kept = pd.concat(self._kept, ignore_index=True) if self._kept else normalise(pd.DataFrame())
        machine = kept.loc[kept["human_annotated"].map(_is_machine).astype(bool)]
        human = kept.drop(index=machine.index)
        labels, refused, agreement, extra, accuracy = self._aggregate(human)
        accepted = self.accepted
        conflicts = {i for i, label in labels.items() if i in accepted and accepted[i] != label}
        revised = {i: labels[i] for i in sorted(conflicts)} if self.revise else {}
        conflicts -= set(revised)
        reason = human[ID].map(lambda i: refused.get(i) or ("conflicting_relabel" if i in conflicts else None))
        late = human.loc[reason.notna().astype(bool)].assign(reason=reason[reason.notna()])
        late = late.assign(accepted_label=late[ID].map(lambda i: accepted.get(i) if i in conflicts else None))
        wide = (late["reason"] == "disagreement").to_numpy()
        if wide.any():  # numbers sent back: say how far apart the votes were
            limit = f"{self.max_spread:g}" if self.max_spread is not None else "?"
            said = {i: f"votes spread {extra[i]['spread']:g}, over vendor.max_spread {limit}" for i in extra}
            late.loc[wide, DETAIL] = late.loc[wide, ID].map(said)
        self._refuse(late)
        fresh = {i: label for i, label in labels.items() if i not in accepted}
        by_machine = {i: label for i, label in reversed(list(zip(machine[ID], machine[LABEL], strict=True)))}
        # a gold item's answer is the vendor's, by a person or its tool (only a person's vote scores an annotator)
        gold = score_gold(human, {**by_machine, **fresh}, {i: a for i, a in self.gold.items() if i not in accepted})
        fresh = {i: label for i, label in fresh.items() if i not in gold.labels}
        machine_labels: dict[str, str] = {}
        for id_, label in zip(machine[ID], machine[LABEL], strict=True):
            if id_ not in labels and id_ not in accepted and id_ not in self.gold:
                machine_labels.setdefault(id_, label)
        who = sorted({w for w in human[ANNOTATOR] if w is not None})
        return Verdict(
            labels=fresh,
            machine_labels=machine_labels,
            rejected=[RejectedRow(**r) for r in sorted(self.sample, key=lambda r: r["row"])[:SAMPLE]],
            refused_rows=sum(self.reasons.values()),
            reasons=dict(self.reasons),
            duplicates=sorted(i for i, label in labels.items() if accepted.get(i) == label and i not in self.gold),
            agreement=agreement,
            annotators=[capped(w) for w in who[:MAX_ANNOTATORS]],
            votes=self.rows,
            items=sorted(set(kept[ID])),
            metadata=_with(_metadata(kept, {**fresh, **machine_labels}), {i: extra[i] for i in extra if i in fresh}),
            annotator_accuracy={capped(w): a for w, a in list(accuracy.items())[:MAX_ANNOTATORS]},
            revised=revised,
            gold=gold,
            seconds=_seconds(human, {*fresh, *revised}),
            voters=_voters(human, {*fresh, *revised}) if len(who) > 1 else {},
        )

    def _aggregate(
        self, human: pd.DataFrame
    ) -> tuple[dict[str, str], dict[str, str], float | None, dict, dict[str, float]]:
        """(labels, item -> reason not labeled, agreement, item -> metadata, annotator -> estimated accuracy)
        by the campaign's rule and kind."""
        kind = self.kind
        if kind is not None and kind.kind == "multi":
            tagged = tag_votes(
                human,
                classes=kind.classes,
                annotators=self.annotators,
                tie_rule=self.tie_rule,
                allow_empty=kind.allow_empty,
            )
            return (*tagged, {})
        if kind is not None and kind.kind == "number":
            return (*number_votes(human, annotators=self.annotators, max_spread=self.max_spread), {})
        if self.aggregation == "quality":
            weighed = aggregate_with_quality(
                human, classes=self.classes, annotators=self.annotators, tie_rule=self.tie_rule, gold=self.gold_record
            )
            return weighed.labels, weighed.refused, weighed.agreement, {}, weighed.accuracy
        if self.aggregation == "dawid_skene":
            return (*dawid_skene(human, classes=self.classes, annotators=self.annotators), {}, {})
        majority_ = majority(human, classes=self.classes, annotators=self.annotators, tie_rule=self.tie_rule)
        return (*majority_, {}, {})


def judge(
    votes: pd.DataFrame, *, classes: tuple[str, ...], batch: set[str], accepted: dict[str, str], **rules: Any
) -> Verdict:
    """The verdict on a whole frame of votes at once (a small file, a notebook, a test)."""
    one = Judge(classes=classes, batch=batch, accepted=accepted, **rules)
    one.add(votes)
    return one.verdict()


def _seconds(human: pd.DataFrame, items: set[str]) -> dict[str, float]:
    """Per item labeled here, the seconds its valid votes took, summed (every annotator's time is paid
    for, outvoted or not); items none of whose votes carries a time are left out."""
    timed = human[human[ID].isin(items) & human[SECONDS].notna()]
    if timed.empty:
        return {}
    spent = timed.groupby(ID, sort=True)[SECONDS].sum()
    return {str(i): round(float(v), 3) for i, v in spent.items()}


def _voters(human: pd.DataFrame, items: set[str]) -> dict[str, str]:
    """Of `items`, those whose valid votes here are one named annotator's: id -> that annotator (what
    an item asked again in a later round weighs its vote by: alflow.ledger.repeat_votes)."""
    named = human.loc[human[ID].isin(items) & human[ANNOTATOR].notna(), [ID, ANNOTATOR]]
    if named.empty:
        return {}
    per = named.groupby(ID, sort=True)[ANNOTATOR].agg(["first", "nunique", "size"])
    everyone = human.loc[human[ID].isin(items)].groupby(ID).size()
    sole = per[(per["nunique"] == 1) & (per["size"] == everyone.reindex(per.index))]
    return {str(i): capped(str(w)) for i, w in sole["first"].items()}


def _metadata(kept: pd.DataFrame, fresh: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Per accepted item, the label metadata its format carries (confidence, job, dates), non-empty only
    (time spent is summed over the votes apart: `Verdict.seconds`)."""
    metadata: dict[str, dict[str, Any]] = {}
    for _, row in kept[kept[ID].isin(fresh)].drop_duplicates(ID).iterrows():
        values = {c: _json_value(row[c]) for c in META_COLUMNS if c != SECONDS}
        if any(v is not None for v in values.values()):
            metadata[str(row[ID])] = {c: v for c, v in values.items() if v is not None}
    return metadata


def _with(metadata: dict[str, dict[str, Any]], extra: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """`metadata` with what aggregation adds per item (a number's spread), for accepted items only."""
    out = {i: dict(values) for i, values in metadata.items()}
    for item, values in extra.items():
        out.setdefault(item, {}).update(values)
    return out


def _json_value(value: Any) -> Any:
    value = plain(value)
    if value is None or str(value).strip() == "":
        return None
    return capped(value) if isinstance(value, str) else value


def _longest(values: list[Any]) -> int:
    """The longest text among `values` (None and other values count 0), at C speed when all are text."""
    try:
        return max(map(len, filter(None, values)), default=0)
    except TypeError:  # a number or NaN among them
        return max((len(v) for v in values if type(v) is str), default=0)
