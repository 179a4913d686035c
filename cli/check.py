"""`alflow check`: a campaign checked in seconds, without Prefect, before a schedule fires at night."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from cli.console import emit_json, out


def prefect_api_url() -> str | None:
    """PREFECT_API_URL from the environment, else from the active Prefect profile (imports Prefect's settings only)."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


def check(
    config: Annotated[Path, typer.Argument(help="the campaign file")],
    work_pool: Annotated[
        str | None, typer.Option(help="also check that this work pool exists on the Prefect API (PREFECT_API_URL)")
    ] = None,
    answers: Annotated[
        str | None,
        typer.Option(
            help="the pool column with the true labels, as `alflow simulate --answers` reads it: not a feature"
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON for CI")] = False,
) -> None:
    """Check a campaign: its file, pool, labels, model, bucket and tracking server. Exit 1 on any problem."""
    from alflow.operations.preflight import check_campaign, report_payload

    api_url = prefect_api_url() if work_pool else None
    findings = check_campaign(config, work_pool=work_pool, api_url=api_url, answers=answers)
    if as_json:
        emit_json(report_payload(config, findings))
    else:
        for finding in findings:
            mark = "[green]ok[/green]   " if finding.ok else "[red]error[/red]"
            out.print(f"{mark} {finding.check}: {escape(finding.message)}", highlight=False)
    if not all(f.ok for f in findings):
        raise typer.Exit(code=1)
