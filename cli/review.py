"""`alflow review`: labels already taken scored for likely errors, the likeliest sent to the vendor again."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from alflow.values import counted
from cli.console import emit_json, errors_as_exit_codes, out, quiet_libraries


def review(
    config: Annotated[Path, typer.Argument(help="the campaign file")],
    count: Annotated[
        int | None,
        typer.Option(help="how many labels to send for review (default: those confident learning flags)", min=1),
    ] = None,
    reason: Annotated[str | None, typer.Option(help="why: kept in the ledger with the review")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the review as JSON")] = False,
) -> None:
    """Score the seed and delivered labels for likely errors and export the likeliest as a review batch."""
    from alflow.operations.label_review import request_review

    quiet_libraries()
    with errors_as_exit_codes(as_json=as_json):
        result = request_review(config, count=count, reason=reason)
    record = result.review
    if as_json:
        emit_json(
            {
                "review": record.model_dump() if record else None,
                "batch": result.where,
                "resumed": result.resumed,
                "scored": result.scored,
                "flagged": result.flagged,
            }
        )
        return
    if record is None:
        out.print(
            f"{counted(result.scored, 'label')} scored; none flagged as a likely error: nothing sent", highlight=False
        )
        return
    how = "finished the interrupted export of" if result.resumed else "sent"
    scored = "" if result.resumed else f"{counted(result.scored, 'label')} scored, {result.flagged} flagged; "
    out.print(
        f"{scored}{how} review {record.seq}: {counted(len(record.items), 'label')} "
        f"(each costs a label) -> {result.where}",
        highlight=False,
    )
