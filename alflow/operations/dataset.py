"""The campaign's product: its labeled data set, rebuilt from the ledger as it stood at any round.

One row per labeled item: its id, its content columns (the pool's text, vector and reference,
else its features), its label, and where the label came from: `origin` (`seed`, `vendor` for a
person's label, `vendor_machine` for the vendor tool's own, `model` for alflow's auto-label), the
`round` whose batch asked for it (0 for seed labels; for `model` the round that labeled it),
`ingested_in` (the round whose opening took it in: from that round on the model trained on it),
the delivery file and its time, the item's annotators and votes (read again from the delivery
file, which the ingest record's SHA-256 vouches for; null when the file is gone or was
rewritten), the share of votes for the label, the file's agreement, the model's confidence for an
auto-label, whether the model trains on it, and what it cost as an exact decimal (null without
`budget.cost_per_label`). Labels are the ledger's: an item's first accepted label, counted once.

`labeled_dataset` builds it (nothing is written), `write_dataset` writes it as Parquet with a data
card beside it (README.md, which Hugging Face `datasets` reads, and card.json), `export_dataset`
does both and logs it as a dataset of the campaign's MLflow run. The same ledger gives the same
bytes: nothing in the file or its card depends on when it was exported.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from statistics import median
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from alflow.config import CampaignConfig, load_campaign
from alflow.data import content, embeddings
from alflow.errors import AlreadyExistsError, ConfigError, DataValidationError
from alflow.exchange.bucket import open_store
from alflow.intake.provenance import ItemVotes, item_votes
from alflow.ledger.ledger import Ledger
from alflow.ledger.records import AutoLabelFile, IngestRecord, sha256
from alflow.ledger.state import CampaignState
from alflow.reporting import tracking
from alflow.reporting.repeat_report import repeat_counts
from alflow.reporting.review_report import review_counts
from alflow.reporting.round_run import campaign_params
from alflow.round import pool
from alflow.round.context import RoundContext
from alflow.round.inputs import validate_inputs

SEED, VENDOR, VENDOR_MACHINE, MODEL = "seed", "vendor", "vendor_machine", "model"
DATA_FILE, CARD_FILE, CARD_JSON = "data.parquet", "README.md", "card.json"

PROVENANCE: dict[str, tuple[pa.DataType, str]] = {
    "label": (pa.string(), "the item's label"),
    "origin": (
        pa.string(),
        "seed | vendor (a person) | vendor_machine (the vendor tool) | model (alflow's auto-label)",
    ),
    "round": (pa.int32(), "the round whose batch asked for it (0: seed labels; model: the round that labeled it)"),
    "ingested_in": (pa.int32(), "the round whose opening took the label in (null: seed, model)"),
    "delivery_file": (pa.string(), "the vendor's file, as the ingest record names it"),
    "delivered_at": (pa.string(), "when that delivery was completed (ISO 8601 UTC)"),
    "annotators": (pa.list_(pa.string()), "the named annotators who voted on the item, in file order (null: unknown)"),
    "votes": (pa.int32(), "valid votes on the item (one per annotator)"),
    "votes_for_label": (pa.int32(), "of which for its label"),
    "agreement": (pa.float64(), "votes_for_label / votes"),
    "file_agreement": (pa.float64(), "the delivery file's mean agreement, as the ingest recorded it"),
    "confidence": (pa.float64(), "the model's confidence in an auto-label"),
    "trained_on": (pa.bool_(), "whether the campaign's model trains on this label"),
    "cost": (pa.null(), "what the label cost, exact (the budget's currency); null without a cost per label"),
    "seconds": (
        pa.float64(),
        "seconds the vendor's annotators spent on the item, summed over its votes, as their tool recorded it "
        "(Label Studio lead_time, Ground Truth timeSpentInSeconds, Labelbox seconds_to_create); null: not recorded",
    ),
    "review": (
        pa.string(),
        "a review's verdict on the label (`alflow review`): confirmed | corrected | dropped (not trained on) | "
        "awaiting; null: never reviewed",
    ),
    "corrected_from": (pa.string(), "the label a review corrected (null: not corrected)"),
    "reviewed_in": (pa.int32(), "the round whose opening took the review's verdict in"),
    "repeated_from": (
        pa.string(),
        "an item asked again (vendor.repeats): its first label, when the votes of every round that asked it "
        "(counted in votes, annotators) changed it; null: not asked again or not changed",
    ),
}


@dataclass(frozen=True)
class Row:
    """One labeled item's label and provenance (the columns of PROVENANCE)."""

    id: str
    label: str
    origin: str
    round: int
    ingested_in: int | None = None
    delivery_file: str | None = None
    delivered_at: str | None = None
    annotators: list[str] | None = None
    votes: int | None = None
    votes_for_label: int | None = None
    agreement: float | None = None
    file_agreement: float | None = None
    confidence: float | None = None
    trained_on: bool = True
    seconds: float | None = None
    review: str | None = None
    corrected_from: str | None = None
    reviewed_in: int | None = None
    repeated_from: str | None = None


@dataclass(frozen=True)
class LabeledDataset:
    """The data set (`table`, and as Parquet `data`) and its card (`card`: plain JSON values) as of
    round `round`."""

    campaign: str
    round: int
    table: pa.Table
    card: dict[str, Any]
    data: bytes  # the table as Parquet

    def markdown(self, data_file: str = DATA_FILE) -> str:
        return card_markdown(self.card, data_file)


def parquet(table: pa.Table) -> bytes:
    """The table as Parquet bytes; the same table gives the same bytes."""
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def money(value: float | None) -> Decimal | None:
    """A configured amount as the decimal it was written as (0.56, not 0.56000000000000005)."""
    return None if value is None else Decimal(repr(float(value)))


def state_at(state: CampaignState, round_: int) -> CampaignState:
    """The ledger's state as round `round_` saw it: its rounds up to it, the labels ingested by then."""
    return replace(
        state,
        rounds={r: rec for r, rec in state.rounds.items() if r <= round_},
        ingests={r: [i for i in recs if i.ingested_in <= round_] for r, recs in state.ingests.items() if r <= round_},
        auto_labels={r: labels for r, labels in state.auto_labels.items() if r <= round_},
        written_off={r: ids for r, ids in state.written_off.items() if r <= round_},
        exported=frozenset(r for r in state.exported if r <= round_),
        delivered=frozenset(r for r in state.delivered if r <= round_),
        reviews={s: rec for s, rec in state.reviews.items() if rec.asked_before <= round_},
        review_verdicts={
            s: [v for v in verdicts if v.ingested_in <= round_] for s, verdicts in state.review_verdicts.items()
        },
    )


def _chosen_round(state: CampaignState, round_: int | None) -> int:
    if round_ is None:
        return max(state.rounds, default=0)
    if round_ not in state.rounds:
        known = f"rounds 1 to {max(state.rounds)}" if state.rounds else "no round yet"
        raise ConfigError(f"--round {round_}: campaign {state.campaign!r} has {known}; see `alflow status`")
    return round_


def _vendor_rows(ledger: Ledger, config: CampaignConfig, state: CampaignState, round_: int) -> list[Row]:
    """The vendor's labels of one round's batch, in batch order, each with the record that took it in."""
    human, machine = state.ingested.get(round_, {}), state.machine_labeled.get(round_, {})
    found: dict[str, Row] = {}
    for record in sorted(state.ingests.get(round_, []), key=lambda r: (r.ingested_at, r.sha256)):
        given = {**record.labels, **record.revised}  # a revised label is given by the record that revised it
        fresh = {i: lab for i, lab in given.items() if human.get(i) == lab and i not in found}
        fresh_machine = {i: lab for i, lab in record.machine_labels.items() if machine.get(i) == lab}
        fresh_machine = {i: lab for i, lab in fresh_machine.items() if i not in found and i not in fresh}
        if not fresh and not fresh_machine:
            continue
        votes = item_votes(
            ledger.store,
            record,
            classes=config.classes,
            label_attribute=config.vendor.label_attribute,
            kind=config.label_kind,
        )
        for origin, labels in ((VENDOR, fresh), (VENDOR_MACHINE, fresh_machine)):
            trained = origin == VENDOR or config.vendor.machine_labels == "train"
            for id_, label in labels.items():
                found[id_] = _vendor_row(record, id_, label, origin, votes, trained=trained)
    order = {i: n for n, i in enumerate(state.batch_ids(round_))}
    return sorted(found.values(), key=lambda row: order.get(row.id, len(order)))


def _vendor_row(
    record: IngestRecord, id_: str, label: str, origin: str, votes: dict[str, ItemVotes] | None, *, trained: bool
) -> Row:
    item = (votes or {}).get(id_)
    counted = None if votes is None else (len(item.labels) if item else 0)
    agreeing = None if votes is None else (item.for_label(label) if item else 0)
    return Row(
        id=id_,
        label=label,
        origin=origin,
        round=record.round,
        ingested_in=record.ingested_in,
        delivery_file=record.file,
        delivered_at=record.delivered_at,
        annotators=None if votes is None else [w for w in (item.annotators if item else ()) if w is not None],
        votes=counted,
        votes_for_label=agreeing,
        agreement=agreeing / counted if counted and agreeing is not None else None,
        file_agreement=record.agreement,
        trained_on=trained,
        seconds=record.seconds.get(id_),
    )


def _model_rows(ledger: Ledger, state: CampaignState, round_: int) -> list[Row]:
    """The labels the model gave itself in a round, with its confidence; never trained on."""
    summary = state.rounds[round_].auto_labels
    if not summary or not summary.key:
        return []
    labels = AutoLabelFile.from_json(ledger.store.read(summary.key))
    return [
        Row(id=i, label=lab, origin=MODEL, round=round_, confidence=labels.confidence.get(i), trained_on=False)
        for i, lab in labels.labels.items()
    ]


def labeled_rows(ledger: Ledger, config: CampaignConfig, state: CampaignState, seed: dict[str, str]) -> list[Row]:
    """Every labeled item once: seed labels (in their file's order), then round by round the vendor's
    labels (batch order) and the model's. A vendor label replaces a seed label of the same item, as
    in training; an item labeled by a person is never also listed as the model's."""
    rows: dict[str, Row] = {i: Row(id=i, label=lab, origin=SEED, round=0) for i, lab in seed.items()}
    for round_ in sorted(state.rounds):
        for row in _vendor_rows(ledger, config, state, round_):
            if row.origin == VENDOR or row.id not in rows:
                before = rows.pop(row.id, None)
                rows[row.id] = _asked_again(state, before, row)
        for row in _model_rows(ledger, state, round_):
            rows.setdefault(row.id, row)
    return [_reviewed(state, row) for row in rows.values()]


def _asked_again(state: CampaignState, before: Row | None, row: Row) -> Row:
    """The vendor's `row` for an item; for an item asked again (vendor.repeats) that the vendor
    labeled `before`, one row over every round's vote: the label they make, the first one it replaced."""
    outcome = state.repeats.get(row.id)
    if outcome is None or before is None or before.origin != VENDOR:
        return row
    agreeing = sum(v.label == outcome.label for v in outcome.votes)
    seconds = [s for s in (before.seconds, row.seconds) if s is not None]
    return replace(
        row,
        label=outcome.label,
        annotators=[v.annotator for v in outcome.votes if v.annotator is not None],
        votes=len(outcome.votes),
        votes_for_label=agreeing,
        agreement=agreeing / len(outcome.votes),
        seconds=sum(seconds) if seconds else None,
        repeated_from=outcome.first if outcome.changed else None,
    )


def _reviewed(state: CampaignState, row: Row) -> Row:
    """The row with its review's verdict (a corrected label in place of the old one, which it keeps)."""
    if row.id not in state.reviewed_ids or row.origin == MODEL:
        return row
    if row.id not in state.review_outcomes:
        return replace(row, review="awaiting")
    outcome, _, verdict = state.review_outcomes[row.id]
    row = replace(row, review=outcome, reviewed_in=verdict.ingested_in)
    if outcome == "corrected":
        old, new = verdict.corrected[row.id]
        return replace(row, label=new, corrected_from=old)
    return replace(row, trained_on=False) if outcome == "dropped" else row


def _content_columns(config: CampaignConfig, features: list[str]) -> list[str]:
    """What an item is, as the data set shows it: the pool's text, vector and reference, and the
    features the model reads (for a text or vector pool, that same column)."""
    return list(dict.fromkeys([*content.content_columns(config.pool), *features]))


def _content(ctx: RoundContext, ids: list[str], columns: list[str]) -> pa.Table:
    """The content columns of `ids`, in that order (pool rows, and items outside the pool from the
    files the round records name)."""
    try:
        frame = pool.item_rows(ctx, ids, list(ctx.state.rounds.values()), columns)
    except KeyError:
        missing = sorted(set(ids) - set(pool.pool_rows(ctx, ids, columns)[ctx.config.pool.id_column]))
        raise DataValidationError(
            f"{len(missing)} labeled items are not in the pool {ctx.config.pool.uri} (first: {missing[:3]}): "
            "the pool changed since they were labeled; point pool.uri at the version the campaign labeled",
            reason="rule_failed",
        ) from None
    frame = frame.drop(columns=[embeddings.ROW], errors="ignore")
    return pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)


def _cost_type(cost: Decimal | None) -> pa.DataType:
    exponent = cost.as_tuple().exponent if cost is not None else -2
    return pa.decimal128(18, max(2, -exponent if isinstance(exponent, int) else 2))


def _provenance(rows: list[Row], cost: Decimal | None) -> dict[str, pa.Array]:
    arrays = {}
    for name, (kind, _) in PROVENANCE.items():
        if name == "cost":
            values = [None if cost is None else (cost if r.origin == VENDOR else Decimal(0)) for r in rows]
            arrays[name] = pa.array(values, _cost_type(cost))
        else:
            arrays[name] = pa.array([getattr(r, name) for r in rows], kind)
    return arrays


def dataset_table(ctx: RoundContext, rows: list[Row]) -> pa.Table:
    """The data set: the id column, the content columns, then PROVENANCE, one row per item."""
    id_column = ctx.config.pool.id_column
    ids = [r.id for r in rows]
    columns = _content_columns(ctx.config, ctx.inputs.features)
    items = _content(ctx, ids, columns)
    if items.column(id_column).to_pylist() != ids:  # item_rows keeps the order it is given
        raise DataValidationError(f"the pool's rows of the labeled items came back out of order ({id_column})")
    arrays = {id_column: pa.array(ids, pa.string())}
    arrays.update({c: items.column(c) for c in columns if c != id_column})
    arrays.update(_provenance(rows, money(ctx.config.budget.cost_per_label)))
    metadata = {
        "alflow.campaign": ctx.config.campaign,
        "alflow.round": str(ctx.state.last.round if ctx.state.last else 0),
    }
    return pa.table(arrays).replace_schema_metadata(metadata)


def _spend(config: CampaignConfig, state: CampaignState, rows: list[Row]) -> dict[str, Any] | None:
    """Money as exact decimals (text in the card): what the labels in the set cost, what was charged
    (every label asked, delivered or not, less the vendor tool's own), and the rest."""
    cost = money(config.budget.cost_per_label)
    if cost is None:
        return None
    in_set = sum(1 for r in rows if r.origin == VENDOR)
    charged = state.human_labels_asked
    return {
        "currency": config.budget.currency,
        "cost_per_label": str(cost),
        "labels_in_set": str(cost * in_set),
        "charged": str(cost * charged),
        "charged_without_label": str(cost * max(0, charged - in_set)),
    }


def _time(rows: list[Row]) -> dict[str, Any] | None:
    """The vendor's time on the labels in the set (the `seconds` column), or None when no tool recorded any."""
    timed = [r.seconds for r in rows if r.seconds is not None]
    if not timed:
        return None
    return {"labels_timed": len(timed), "seconds_total": round(sum(timed), 3), "median_seconds": median(timed)}


def dataset_card(ctx: RoundContext, rows: list[Row], data: bytes) -> dict[str, Any]:
    """What the data set is, for people and tools: where it comes from, what each column means, the
    counts by origin, class and round, what it cost."""
    config, state = ctx.config, ctx.state
    last = state.last
    columns = _content_columns(config, ctx.inputs.features)
    asked = set(state.asked_ids)
    return {
        "campaign": config.campaign,
        "round": last.round if last else 0,
        "rounds": len(state.rounds),
        "items": len(rows),
        "data_sha256": sha256(data),
        "ledger": f"{ctx.ledger.store.uri}/{config.campaign}/ledger",
        "pool": {"uri": config.pool.uri, "version": ctx.pool.version},
        "id_column": config.pool.id_column,
        "content_columns": columns,
        "classes": list(config.classes),
        "by_origin": dict(sorted(Counter(r.origin for r in rows).items())),
        "by_class": {c: sum(1 for r in rows if r.label == c) for c in config.classes},
        "by_round": {str(k): v for k, v in sorted(Counter(r.round for r in rows).items())},
        "trained_on": sum(1 for r in rows if r.trained_on),
        "labels_used_by_model": last.labels_used if last else len(rows),
        "asked_without_label": len(asked - {r.id for r in rows}),
        "written_off": sum(len(ids) for ids in state.written_off.values()),
        "reviews": {"asked": state.reviews_asked, **review_counts(state)},
        "repeats": repeat_counts(state),
        "votes_unavailable": sum(1 for r in rows if r.origin != SEED and r.origin != MODEL and r.votes is None),
        "spend": _spend(config, state, rows),
        "time": _time(rows),
        "columns": {name: meaning for name, (_, meaning) in PROVENANCE.items()},
    }


def card_markdown(card: dict[str, Any], data_file: str) -> str:
    """The card as a README.md: Hugging Face's front matter naming the data file, then the card."""
    spend = card["spend"]
    lines = [
        "---",
        "configs:",
        "- config_name: default",
        f"  data_files: {data_file}",
        "---",
        f"# {card['campaign']}: labeled data set as of round {card['round']}",
        "",
        f"{card['items']} labeled items from the ledger at `{card['ledger']}` ({card['rounds']} rounds), "
        f"over the pool `{card['pool']['uri']}` (version `{card['pool']['version']}`).",
        f"Data file `{data_file}`, SHA-256 `{card['data_sha256']}`.",
        "",
        f"- by origin: {_counts(card['by_origin'])}",
        f"- by class: {_counts(card['by_class'])}",
        f"- by round (0: seed labels): {_counts(card['by_round'])}",
        f"- the model trains on {card['trained_on']}; asked of the vendor without a label yet: "
        f"{card['asked_without_label']} (written off: {card['written_off']})",
    ]
    if (reviews := card.get("reviews")) and reviews["asked"]:
        lines.append(
            f"- reviewed (`alflow review`): {reviews['asked']} asked, {reviews['corrected']} corrected, "
            f"{reviews['confirmed']} confirmed, {reviews['dropped']} dropped (not trained on)"
        )
    if (repeats := card.get("repeats")) and repeats["asked"]:
        lines.append(
            f"- asked again (vendor.repeats): {repeats['asked']} asked, {repeats['answered']} answered, "
            f"{repeats['changed']} labels changed by their votes (column repeated_from)"
        )
    if card["votes_unavailable"]:
        lines.append(f"- votes unknown for {card['votes_unavailable']} (their delivery file is gone or was rewritten)")
    if spend:
        lines.append(
            f"- cost: {spend['labels_in_set']} {spend['currency']} for the labels here at {spend['cost_per_label']} "
            f"each; {spend['charged']} {spend['currency']} charged in all"
        )
    if time := card.get("time"):
        lines.append(
            f"- time: {time['seconds_total']:g} s spent by the vendor's annotators on {time['labels_timed']} labels "
            f"(median {time['median_seconds']:g} s per label; column `seconds`)"
        )
    shown = card["content_columns"]
    content_cells = ", ".join(f"`{c}`" for c in shown) if len(shown) <= 4 else f"`{shown[0]}` ... `{shown[-1]}`"
    lines += ["", "| column | meaning |", "| --- | --- |", f"| `{card['id_column']}` | the item's id in the pool |"]
    lines += [f"| {content_cells} | the item's content as in the pool ({len(shown)} columns) |"]
    lines += [f"| `{name}` | {meaning} |" for name, meaning in card["columns"].items()]
    return "\n".join(lines) + "\n"


def card_json(card: dict[str, Any]) -> str:
    return json.dumps(card, indent=2) + "\n"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "none"


def labeled_dataset(campaign: str | Path | CampaignConfig, *, round_: int | None = None) -> LabeledDataset:
    """The campaign's labeled data set from its ledger: as round `round_` saw it (the labels ingested
    by its opening, the model's labels up to it), or with every label ingested so far (None).

    Reads only: nothing is ingested or written. Raises ConfigError for a round the campaign does not
    have, DataValidationError for labeled items the pool no longer holds.
    """
    config = campaign if isinstance(campaign, CampaignConfig) else load_campaign(campaign)
    ledger = Ledger.of(config)
    state = ledger.state()
    chosen = _chosen_round(state, round_)
    if round_ is not None:
        state = state_at(state, chosen)
    inputs = validate_inputs(config, record=False)
    ctx = RoundContext(config, inputs, state)
    rows = labeled_rows(ledger, config, state, inputs.seed_labels)
    table = dataset_table(ctx, rows)
    data = parquet(table)
    return LabeledDataset(config.campaign, chosen, table, dataset_card(ctx, rows, data), data)


def _places(out: str) -> tuple[str, tuple[str, str, str]]:
    """Where `out` puts the data, its card and the card's JSON: a `.parquet` file with
    `<name>.README.md` and `<name>.card.json` beside it, else a folder or s3:// prefix holding
    data.parquet, README.md and card.json."""
    out = out.rstrip("/")
    if not out.lower().endswith(".parquet"):
        return out, (DATA_FILE, CARD_FILE, CARD_JSON)
    base, _, name = out.rpartition("/")
    stem = name[: -len(".parquet")]
    if not base or base in ("s3:", "s3:/"):
        base = "." if not out.startswith("s3://") else base
    if out.startswith("s3://") and base.count("/") < 2:
        raise ConfigError(f"--out {out}: name a bucket and a key, s3://bucket/name.parquet")
    return base, (name, f"{stem}.README.md", f"{stem}.card.json")


def write_dataset(dataset: LabeledDataset, out: str) -> tuple[str, ...]:
    """Write the data set and its card to `out` (see `_places`); returns their URIs, data first.

    Written once: writing the same data set again changes nothing; a place that holds other
    bytes is left as it is (ConfigError: choose another place, or remove the old export).
    """
    base, (data_name, card_name, json_name) = _places(out)
    try:
        store = open_store(base)
    except ValueError as error:
        raise ConfigError(f"--out {out}: {error}") from None
    files = {
        data_name: dataset.data,
        card_name: dataset.markdown(data_name).encode(),
        json_name: card_json(dataset.card).encode(),
    }
    for name, payload in files.items():
        try:
            store.write_once(name, payload)
        except AlreadyExistsError:
            if store.read(name) != payload:
                raise ConfigError(
                    f"{store.uri}/{name} already holds another export; choose another --out, or remove it first"
                ) from None
    return tuple(f"{store.uri}/{name}" for name in files)


@dataclass(frozen=True)
class Exported:
    """A data set written (`files`: data, card, card JSON) and the MLflow run it was logged on (None: not logged)."""

    dataset: LabeledDataset
    files: tuple[str, ...]
    run_id: str | None


def export_dataset(
    campaign: str | Path | CampaignConfig, out: str, *, round_: int | None = None, track: bool = True
) -> Exported:
    """`labeled_dataset`, written to `out` and (with `track`) logged as a dataset input of the
    campaign's MLflow run, with its card as the run's artifacts under `datasets/round-NNNN/`."""
    config = campaign if isinstance(campaign, CampaignConfig) else load_campaign(campaign)
    dataset = labeled_dataset(config, round_=round_)
    files = write_dataset(dataset, out)
    run_id = None
    if track:
        entry = tracking.DatasetLog(
            source=files[0],
            name=f"{config.campaign}-labeled-round-{dataset.round}",
            digest=dataset.card["data_sha256"][:16],
            round=dataset.round,
            files={CARD_FILE: dataset.markdown(files[0].rsplit("/", 1)[-1]), CARD_JSON: card_json(dataset.card)},
        )
        run_id = tracking.log_dataset(
            config.tracking.uri,
            experiment=config.experiment,
            campaign=config.campaign,
            params=campaign_params(config),
            entry=entry,
        )
    return Exported(dataset, files, run_id)
