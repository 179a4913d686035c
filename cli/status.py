"""`alflow status`: the campaign so far, one row per round, for people or scripts (`--json`)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from alflow.config import load_campaign
from alflow.values import plain
from cli.console import errors_as_exit_codes, out

if TYPE_CHECKING:
    from alflow.ledger.campaign import OpenBatch


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


def _open_lines(batches: list[OpenBatch], limit: int) -> str:
    if not batches:
        return "no batch is out with the vendor"
    parts = [f"round {b.round}: {b.outstanding}/{b.items} outstanding, out {_age(b.age_seconds())}" for b in batches]
    return f"open batches ({len(batches)} of at most {limit}): " + "; ".join(parts)


def status(
    config: Annotated[Path, typer.Argument(help="the campaign file")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON for scripts")] = False,
) -> None:
    """The campaign so far: one row per round."""
    from alflow.ledger.campaign import campaign_state, open_batches
    from alflow.reporting.reports import status_rows

    with errors_as_exit_codes():
        campaign = load_campaign(config)
        rows = status_rows(campaign)
        batches = open_batches(campaign, campaign_state(campaign))
    limit = campaign.vendor.batches_in_flight
    if as_json:
        payload = {
            "campaign": campaign.campaign,
            "max_labels": campaign.budget.max_labels,
            "rounds": [{k: plain(v) for k, v in row.items()} for row in rows],
            "batches_in_flight": limit,
            "open_batches": [{**asdict(b), "age_seconds": b.age_seconds()} for b in batches],
        }
        typer.echo(json.dumps(payload, indent=2))
        return
    table = Table(
        title=f"{campaign.campaign}: budget {campaign.budget.max_labels} labels", box=box.SIMPLE_HEAD, pad_edge=False
    )
    for column in ("round", "labels", "asked", "delivered", "ingested", "accuracy", "f1", "state"):
        table.add_column(column, justify="left" if column == "state" else "right", no_wrap=True)
    for row in rows:
        table.add_row(
            str(row["round"]),
            str(row["labels_used"]),
            str(row["asked"]),
            _show(row["delivered"]),
            _show(row["ingested"]),
            _show(row["accuracy"], "{:.3f}"),
            _show(row["f1_macro"], "{:.3f}"),
            row["state"],
        )
    # In a pipe Rich assumes 80 columns and would squeeze the table: give it room instead.
    console = out if out.is_terminal else Console(width=120)
    console.print(table if rows else f"{campaign.campaign}: no rounds yet; run `alflow round {config}`")
    if rows:
        console.print(_open_lines(batches, limit), highlight=False)
