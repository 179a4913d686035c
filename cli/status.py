"""`alflow status`: the campaign so far, one row per round, then where it stands (labels, spend,
forecast), for people or scripts (`--json`)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from alflow.config import load_campaign
from alflow.values import plain
from cli.console import emit_json, errors_as_exit_codes, out

if TYPE_CHECKING:
    from alflow.config import CampaignConfig
    from alflow.ledger.ledger import OpenBatch
    from alflow.ledger.state import CampaignState
    from alflow.reporting.outlook import Outlook


def _show(value: object, fmt: str = "{}") -> str:
    return "-" if plain(value) is None else fmt.format(value)


def _age(seconds: float | None) -> str:
    """A batch's age for people: '45 s', '12 min', '2 h 05 min', '3 d 4 h'; '-' before its export is finished."""
    if seconds is None:
        return "-"
    minutes, hours = int(seconds // 60), int(seconds // 3600)
    if seconds < 60:
        return f"{int(seconds)} s"
    if hours < 1:
        return f"{minutes} min"
    if hours < 24:
        return f"{hours} h {minutes % 60:02d} min"
    return f"{hours // 24} d {hours % 24} h"


def _open_line(batches: list[OpenBatch], limit: int) -> str:
    if not batches:
        return "no batch is out with the vendor"
    parts = [f"round {b.round}: {b.outstanding}/{b.items} outstanding, out {_age(b.age_seconds())}" for b in batches]
    return f"open batches ({len(batches)} of at most {limit}): " + "; ".join(parts)


def _table(title: str, rows: list[dict], *, cost: bool, kappa: bool = False) -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    columns = ["round", "labels", "asked", "delivered", "ingested", "accuracy", "f1"]
    columns += ["spend", "total spend"] if cost else []
    columns += ["kappa"] if kappa else []
    for column in [*columns, "state"]:
        table.add_column(column, justify="left" if column == "state" else "right", no_wrap=True)
    for row in rows:
        cells = [
            str(row["round"]),
            str(row["labels_used"]),
            str(row["asked"]),
            _show(row["delivered"]),
            _show(row["ingested"]),
            _show(row["accuracy"], "{:.3f}"),
            _show(row["f1_macro"], "{:.3f}"),
        ]
        cells += [_show(row["spend"], "{:,.2f}"), _show(row["spend_total"], "{:,.2f}")] if cost else []
        cells += [_show(row["stop_set_kappa"], "{:.3f}")] if kappa else []
        table.add_row(*cells, row["state"])
    return table


def _why(reason: str | None) -> str:
    return f" ({reason})" if reason else ""


def paused_line(state: CampaignState) -> str:
    pause = state.paused
    if pause is None:
        return "running"
    why = f": {pause.reason}" if pause.reason else ""
    return f"paused since {pause.at} (round {pause.round}) by {pause.by}{why}; `alflow resume` to go on"


def _lines(campaign: CampaignConfig, state: CampaignState, seen: Outlook, batches: list[OpenBatch]) -> list[str]:
    """Where the campaign stands, under its table: labels, spend, forecast or stop, open batches, MLflow."""
    from alflow.ledger.changes import change_text, lifted
    from alflow.reporting.agreement import agreement_text, last_stability
    from alflow.reporting.dashboard import experiment_url, ui_command
    from alflow.reporting.label_cost import time_line
    from alflow.reporting.outlook import STOP_REASONS
    from alflow.reporting.repeat_report import repeat_text
    from alflow.reporting.review_report import review_lines
    from alflow.reporting.vendor_quality import quality_lines

    lines = [f"labels: {seen.labels_text()}", f"spend: {seen.spend_text() or 'no cost per label set'}"]
    if state.paused:
        lines.insert(0, paused_line(state))
    lines += [f"changed in round {c.round}: {change_text(c.changed)}{_why(c.reason)} ({c.by}, {c.at})"
              for c in state.changes if c.changed]  # fmt: skip
    if seen.stop_reason and (goes_on := lifted(campaign, state, budget_left=seen.budget.left)):
        lines.append(
            f"stopped: {STOP_REASONS.get(seen.stop_reason, seen.stop_reason)}; {goes_on}: the next round goes on"
        )
    elif seen.stop_reason:
        lines.append(f"stopped: {STOP_REASONS.get(seen.stop_reason, seen.stop_reason)}")
    else:
        lines.append(f"forecast: {seen.forecast_text() or 'after 4 rounds with a score'}")
    if said := agreement_text(last_stability([r for _, r in sorted(state.rounds.items())]), campaign):
        lines.append(f"stop set: {said}")
    lines.append(_open_line(batches, campaign.vendor.batches_in_flight))
    lines += quality_lines(state)
    if timed := time_line(state, per_class=campaign.labels.kind == "class"):
        lines.append(timed)
    lines += review_lines(state)
    if repeated := repeat_text(state):
        lines.append(repeated)
    if experiment_id := state.rounds[max(state.rounds)].tracking.experiment_id:
        serve = f" (serve it with `{command}`)" if (command := ui_command(campaign.tracking.uri)) else ""
        lines.append(f"MLflow: {experiment_url(campaign.tracking.uri, experiment_id)}{serve}")
    return lines


def status(
    config: Annotated[Path, typer.Argument(help="the campaign file")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON for scripts")] = False,
) -> None:
    """The campaign so far: one row per round, then its labels, spend, forecast and open batches."""
    from alflow.ledger.ledger import Ledger
    from alflow.reporting.label_cost import time_json
    from alflow.reporting.repeat_report import repeat_json
    from alflow.reporting.reports import campaign_outlook, status_rows
    from alflow.reporting.review_report import review_json
    from alflow.reporting.vendor_quality import quality_json

    with errors_as_exit_codes():
        campaign = load_campaign(config)
        ledger = Ledger.of(campaign)
        state = ledger.state()
        rows = status_rows(campaign, state)
        seen = campaign_outlook(campaign, state)
        batches = ledger.open_batches(state)
    limit = campaign.vendor.batches_in_flight
    if as_json:
        emit_json(
            {
                "campaign": campaign.campaign,
                "max_labels": campaign.budget.max_labels,
                "cost_per_label": campaign.budget.cost_per_label,
                "currency": campaign.budget.currency,
                "rounds": rows,
                "outlook": seen.plain() if seen else None,
                "stop_reason": state.stop_reason,
                "paused": state.paused.model_dump() if state.paused else None,
                "changes": [c.model_dump() for c in state.changes],
                "batches_in_flight": limit,
                "open_batches": [{**asdict(b), "age_seconds": b.age_seconds()} for b in batches],
                "quality": quality_json(state),
                "label_time": time_json(state),
                "reviews": review_json(state),
                "repeats": repeat_json(state),
            }
        )
        return
    if not rows or seen is None:
        out.print(f"{campaign.campaign}: no rounds yet; run `alflow round {config}`", highlight=False)
        if state.paused:
            out.print(paused_line(state), highlight=False)
        return
    cost = campaign.budget.cost_per_label is not None
    currency = f" ({campaign.budget.currency})" if cost else ""
    title = f"{campaign.campaign}: budget {campaign.budget.max_labels} labels{currency}"
    # In a pipe Rich assumes 80 columns and would squeeze the table: give it room instead.
    console = out if out.is_terminal else Console(width=140)
    console.print(_table(title, rows, cost=cost, kappa=campaign.stopping.stable_predictions is not None))
    for line in _lines(campaign, state, seen, batches):
        console.print(line, highlight=False)
