"""What a round did, in words and rows: the round report and `alflow status`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from alflow.config import CampaignConfig
from alflow.config.schema import QuietPeriod
from alflow.intake import completion
from alflow.intake.ingest import summary
from alflow.ledger.budget import Budget, amount
from alflow.ledger.changes import change_text
from alflow.ledger.ledger import campaign_state
from alflow.ledger.records import RoundRecord
from alflow.ledger.state import CampaignState
from alflow.reporting.agreement import agreement_text
from alflow.reporting.outlook import Outlook, outlook
from alflow.reporting.repeat_report import repeat_text
from alflow.reporting.review_report import verdict_text
from alflow.reporting.vendor_quality import gold_text
from alflow.round.context import RoundContext
from alflow.values import counted


@dataclass(frozen=True)
class RoundReport:
    """What a round did, for people (`message`) and scripts (the fields)."""

    campaign: str
    status: str  # exported | stopped | waiting | already_stopped | no_arrivals | paused
    round: int | None = None
    labels_used: int | None = None
    max_labels: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    metric_source: str | None = None
    batch_size: int = 0
    batch_uri: str | None = None
    stop_reason: str | None = None
    waiting_for: dict[int, int] = field(default_factory=dict)  # open batches before this round: round -> labels
    batches_in_flight: int = 1  # the campaign's limit (vendor.batches_in_flight)
    waiting_reason: str | None = None  # status waiting: in_flight (at the limit) or last_batches (nothing left to ask)
    resumed_exports: list[str] = field(default_factory=list)  # interrupted exports finished now
    mlflow_run_id: str | None = None
    labels_ingested: int = 0  # vendor labels accepted by this run
    rows_rejected: int = 0  # delivery rows (or whole files) refused by this run: see `quarantined`
    duplicates: int = 0  # late duplicates skipped (already accepted with the same label)
    quarantined: tuple[str, ...] = ()  # store keys of the quarantined copies; reasons beside them
    agreement: float | None = None  # mean annotator agreement over the files ingested by this run
    machine_labels: int = 0  # the vendor's own auto-labels taken by this run (kept apart from human labels)
    unread: tuple[str, ...] = ()  # vendor files found where nothing reads them (recorded once each)
    label_hints: tuple[str, ...] = ()  # refused labels that are a class spelled otherwise: "did you mean"
    screened: int | None = None  # a stream round: arriving items it screened, from `screened_files` files
    screened_files: int = 0
    auto_labeled: int = 0  # items the model labeled itself this round (auto_label), not in labels_used
    auto_threshold: float | None = None
    spend: float | None = None  # labels asked so far x cost per label (None without a cost per label)
    spend_allowed: float | None = None  # what the whole budget allows the vendor to be paid
    currency: str | None = None
    forecast: dict[str, float | bool | None] | None = None  # alflow.reporting.forecast figures, by name
    spend_text: str | None = None
    forecast_text: str | None = None
    settings_changed: str | None = None  # the change of settings this round runs under (alflow.ledger.changes)
    stop_lifted: str | None = None  # why a stopped campaign went on (a change its stopping rule no longer meets)
    paused_since: str | None = None  # status paused: when `alflow pause` was run, by whom and why
    paused_by: str | None = None
    pause_reason: str | None = None
    stop_set_kappa: float | None = None  # agreement with the previous model on the stop set (stable_predictions)
    stop_set_kappa_mean: float | None = None  # its mean over the rule's window
    agreement_text: str | None = None
    gold: str | None = None  # the vendor's and its annotators' accuracy on gold (alflow.reporting.vendor_quality)
    review: str | None = None  # the review verdicts this run took in (alflow.reporting.review_report)
    repeats: str | None = None  # labels asked again and what their votes changed (alflow.reporting.repeat_report)

    def ingest_message(self) -> str:
        """What this run took from the vendor, or '' when it took nothing."""
        unread = ""
        if self.unread:
            more = f" and {len(self.unread) - 1} more" if len(self.unread) > 1 else ""
            unread = f"; {len(self.unread)} delivery files not read: {self.unread[0]}{more} (ledger/strays/)"
        if not (self.labels_ingested or self.rows_rejected or self.duplicates or self.machine_labels):
            return unread
        parts = [f"ingested {counted(self.labels_ingested, 'label')}"]
        if self.machine_labels:
            parts.append(f"{self.machine_labels} vendor auto-labels (not human labels)")
        if self.duplicates:
            parts.append(f"skipped {self.duplicates} duplicates")
        if self.rows_rejected:
            rejected = counted(self.rows_rejected, "row or file", "rows or files")
            parts.append(f"rejected {rejected} (reasons beside {', '.join(self.quarantined)})")
        hints = "".join(f"; {hint}" for hint in self.label_hints)
        return "; " + ", ".join(parts) + hints + unread

    def message(self) -> str:
        auto = ""
        if self.auto_labeled:
            auto = f"; auto-labeled {counted(self.auto_labeled, 'item')} (confidence >= {self.auto_threshold:.3f})"
        changed = f"; settings changed: {self.settings_changed}" if self.settings_changed else ""
        lifted = f"; goes on: {self.stop_lifted}" if self.stop_lifted else ""
        gold = f"; {self.gold}" if self.gold else ""
        review = f"; {self.review}" if self.review else ""
        repeats = f"; {self.repeats}" if self.repeats else ""
        return self._message() + auto + self.ingest_message() + review + repeats + gold + changed + lifted

    def open_batches(self) -> str:
        """The batches the vendor holds, as '10 labels from round 3, 4 labels from round 4'."""
        return ", ".join(f"{counted(n, 'label')} from round {r}" for r, n in sorted(self.waiting_for.items()))

    def _waiting(self) -> str:
        if self.resumed_exports:
            where = ", ".join(self.resumed_exports)
            return f"{self.campaign}: finished an interrupted export to {where}; waiting for {self.open_batches()}"
        why = ""
        if self.waiting_reason == "last_batches":
            why = " before the last round (nothing is left to ask)"
        elif self.batches_in_flight > 1:
            why = f" ({len(self.waiting_for)} batches in flight, vendor.batches_in_flight)"
        return f"{self.campaign}: waiting for {self.open_batches()}{why}; nothing exported"

    def _message(self) -> str:
        still_open = f"; still open: {self.open_batches()} (ingested as delivered)" if self.waiting_for else ""
        if self.status == "paused":
            why = f": {self.pause_reason}" if self.pause_reason else ""
            return (
                f"{self.campaign}: campaign paused since {self.paused_since} by {self.paused_by}{why}{still_open}; "
                "nothing trained or asked (`alflow resume` to go on)"
            )
        if self.status == "already_stopped":
            return f"{self.campaign}: campaign stopped ({self.stop_reason}){still_open}; nothing to do"
        if self.status == "no_arrivals":
            return f"{self.campaign}: no new files have arrived; nothing to screen"
        if self.status == "waiting":
            return self._waiting()
        # per-label figures (model/f1_label/<tag>) are MLflow's to show: the line keeps the headline metrics
        scores = ", ".join(f"{k} {v:.3f}" for k, v in self.metrics.items() if not math.isnan(v) and "/" not in k)
        head = (
            f"{self.campaign} round {self.round}: {self.labels_used}/{self.max_labels} labels, "
            f"{scores or 'no metric yet'} ({self.metric_source})"
        )
        head += "".join(f"; {text}" for text in (self.spend_text, self.forecast_text, self.agreement_text) if text)
        if self.screened is not None:
            head += f"; screened {counted(self.screened, 'item')} from {counted(self.screened_files, 'arrival file')}"
        if self.status == "stopped":
            return f"{head}; stopped: {self.stop_reason}{still_open}"
        if not self.batch_size:  # a stream round that found no item uncertain enough
            return f"{head}; asked for no labels this round"
        open_now = f" ({len(self.waiting_for) + 1} batches open)" if self.waiting_for else ""
        return f"{head}; exported {counted(self.batch_size, 'item')} to {self.batch_uri}{open_now}"


def _ingest_fields(state: CampaignState) -> dict:
    # What this run took from the vendor: a re-run that ingests nothing new reports nothing.
    return summary(list(state.ingested_now), state.strays_now)


def _open_fields(ctx: RoundContext) -> dict:
    state = ctx.state
    waiting = {r: len(state.missing(r)) for r in state.outstanding}
    return {"waiting_for": waiting, "batches_in_flight": ctx.config.vendor.batches_in_flight}


def idle_report(ctx: RoundContext) -> RoundReport:
    """The report of a round with nothing to do (`ctx.waits`): paused, stopped, waiting for the
    vendor, or a stream round with no new file."""
    config, state = ctx.config, ctx.state
    fields = {**_open_fields(ctx), **_ingest_fields(state), "gold": gold_text(state)}
    fields["review"] = verdict_text(state.reviewed_now)
    fields["repeats"] = repeat_text(state)
    if (pause := state.paused) is not None:
        return RoundReport(
            config.campaign, "paused", paused_since=pause.at, paused_by=pause.by, pause_reason=pause.reason, **fields
        )
    if ctx.waits == "stopped":
        return RoundReport(config.campaign, "already_stopped", stop_reason=state.stop_reason, **fields)
    if ctx.waits in ("in_flight", "last_batches"):
        return RoundReport(
            config.campaign, "waiting", waiting_reason=ctx.waits, resumed_exports=list(ctx.resumed), **fields
        )
    return RoundReport(config.campaign, "no_arrivals", **fields)


def record_outlook(config: CampaignConfig, rounds: list[RoundRecord], *, seed_labels: int) -> Outlook:
    """Where the campaign stood after the last of `rounds` (in order), from the ledger alone."""
    metric, asked = config.stopping.metric, set()
    for record in rounds:
        asked.update(record.batch_ids)
    last = rounds[-1]
    return outlook(
        config,
        [(r.labels_used, r.metrics.get(metric, math.nan)) for r in rounds],
        round_=last.round,
        budget=Budget.of(config.budget, seed_labels=seed_labels, asked=len(asked)),
        stop_reason=last.stop_reason,
    )


def context_outlook(ctx: RoundContext, record: RoundRecord) -> Outlook:
    """The outlook after the round `record` committed (the state is the one the round opened on)."""
    rounds = [r for n, r in sorted(ctx.state.rounds.items()) if n < record.round]
    return record_outlook(ctx.config, [*rounds, record], seed_labels=len(ctx.inputs.seed_labels))


def _outlook_fields(seen: Outlook) -> dict:
    plain = seen.plain()
    return {
        "spend": plain["spend"],
        "spend_allowed": plain["spend_allowed"],
        "currency": plain["currency"],
        "forecast": plain["forecast"],
        "spend_text": seen.spend_text(),
        "forecast_text": seen.forecast_text(),
    }


def round_report(ctx: RoundContext, record: RoundRecord | None = None, batch_uri: str | None = None) -> RoundReport:
    """What the round did: its committed `record` and where its batch went, or why it did nothing."""
    if record is None:
        return idle_report(ctx)
    auto = record.auto_labels
    return RoundReport(
        ctx.config.campaign,
        "stopped" if record.stop_reason else "exported",
        round=record.round,
        labels_used=record.labels_used,
        max_labels=ctx.config.budget.max_labels,
        metrics=record.metrics,
        metric_source=record.metric_source,
        batch_size=len(record.batch_ids),
        batch_uri=batch_uri,
        stop_reason=record.stop_reason,
        mlflow_run_id=record.tracking.run_id,
        auto_labeled=auto.count if auto else 0,
        auto_threshold=auto.threshold if auto else None,
        settings_changed=_changed_now(ctx),
        stop_lifted=ctx.lifted,
        stop_set_kappa=record.stability.kappa if record.stability else None,
        stop_set_kappa_mean=record.stability.mean if record.stability else None,
        agreement_text=agreement_text(record.stability, ctx.config),
        **_screened(ctx, record),
        gold=gold_text(ctx.state),
        review=verdict_text(ctx.state.reviewed_now),
        repeats=repeat_text(ctx.state, len(record.repeats.ids) if record.repeats else 0),
        **_open_fields(ctx),
        **_outlook_fields(context_outlook(ctx, record)),
        **_ingest_fields(ctx.state),
    )


def _screened(ctx: RoundContext, record: RoundRecord) -> dict:
    """A stream round's items screened (its record counts them since the stream began) and files."""
    if record.stream is None:
        return {}
    earlier = [r.stream.seen for n, r in sorted(ctx.state.rounds.items()) if r.stream and n < record.round]
    return {
        "screened": record.stream.seen - (earlier[-1] if earlier else 0),
        "screened_files": len(record.stream.files),
    }


def _changed_now(ctx: RoundContext) -> str | None:
    """The settings changes recorded for this round (by `alflow change` or its opening), in words."""
    now = [c for c in ctx.state.changes if c.round == ctx.round and c.changed]
    texts = [change_text(c.changed) + (f" ({c.reason})" if c.reason else "") for c in now]
    return "; ".join(texts) or None


def _arriving(config: CampaignConfig, state: CampaignState, round_: int) -> str | None:
    """A round's state while a tool's files are under its delivery without `_DONE` and the campaign's
    `vendor.complete_when` reads them so (alflow.intake.completion); None otherwise."""
    if not completion.may_read(config.vendor, state, round_):
        return None
    rule = config.vendor.complete_when
    if isinstance(rule, QuietPeriod):
        return f"delivering (read once quiet for {rule.quiet_minutes} min)"
    return "delivered, not read yet"


def _state_of(state: CampaignState, round_: int, record: RoundRecord, written_off: int, arriving: str | None) -> str:
    """A round's row state in `alflow status`."""
    missing = len(state.missing(round_))
    if record.stop_reason:
        return f"stopped: {record.stop_reason}"
    if not missing and (round_ in state.ingested or written_off):
        return f"ingested ({written_off} written off)" if written_off else "ingested"
    if round_ in state.ingested:
        return f"partly ingested: {missing} outstanding"
    if round_ in state.delivered:
        return "delivered"
    if arriving:
        return arriving
    if round_ in state.exported:
        return "waiting for vendor"
    return "export interrupted"


def status_rows(config: CampaignConfig, state: CampaignState | None = None) -> list[dict]:
    """One row per round: labels used, asked, delivered, ingested, metrics, spend and state.

    `spend` is what the round's batch cost and `spend_total` what the campaign has spent by then
    (labels asked x cost per label; None without one)."""
    state = state or campaign_state(config)
    cost, rows, asked = config.budget.cost_per_label, [], set()
    for round_, record in sorted(state.rounds.items()):
        records = state.ingests.get(round_, [])
        labels = state.ingested.get(round_, {})
        asked.update(record.batch_ids)
        # items written off and not delivered after all
        written_off = len([i for i in state.written_off.get(round_, ()) if i not in labels])
        arriving = _arriving(config, state, round_)
        rows.append(
            {
                "round": round_,
                "labels_used": record.labels_used,
                "asked": len(record.batch_ids),
                # items of the batch that got a vote (a person's or the vendor tool's), not votes
                "delivered": len({i for r in records for i in r.items})
                if round_ in state.delivered or arriving
                else None,
                "ingested": len(labels) if round_ in state.ingested else None,
                **{k: record.metrics.get(k) for k in ("accuracy", "f1_macro")},
                **{k: v for k, v in record.metrics.items() if k not in ("accuracy", "f1_macro") and "/" not in k},
                "metric_source": record.metric_source,
                "spend": None if cost is None else amount(len(record.batch_ids), cost),
                "spend_total": None if cost is None else amount(len(asked), cost),
                "state": _state_of(state, round_, record, written_off, arriving),
                "mlflow_run_id": record.tracking.run_id,
                "model_version": record.tracking.model_version,
                "auto_labeled": record.auto_labels.count if record.auto_labels else None,
                "written_off": written_off,
                "stop_set_kappa": record.stability.kappa if record.stability else None,
            }
        )
    return rows


def campaign_outlook(config: CampaignConfig, state: CampaignState) -> Outlook | None:
    """Where the campaign stands after its last round (None before the first). Seed labels are
    what the first round trained on: no vendor label can have arrived before it."""
    rounds = [r for _, r in sorted(state.rounds.items())]
    return record_outlook(config, rounds, seed_labels=rounds[0].labels_used) if rounds else None
