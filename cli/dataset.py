"""`alflow dataset`: the campaign's labeled data set, as Parquet with a data card, from its ledger."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.console import emit_json, errors_as_exit_codes, out, quiet_libraries


def dataset(
    config: Annotated[Path, typer.Argument(help="the campaign file")],
    to: Annotated[
        str,
        typer.Option(
            "--out",
            help="a folder or s3://bucket/prefix (data.parquet, README.md, card.json), or a file name.parquet",
        ),
    ],
    round_: Annotated[
        int | None, typer.Option("--round", help="the data set as this round saw it (default: every label so far)")
    ] = None,
    track: Annotated[bool, typer.Option(help="log it as a dataset of the campaign's MLflow run")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="print the data card as JSON")] = False,
) -> None:
    """Write the labeled data set: each item's content, label, provenance and cost, with a data card."""
    from alflow.operations.dataset import export_dataset

    quiet_libraries()
    with errors_as_exit_codes():
        exported = export_dataset(config, to, round_=round_, track=track)
    card = exported.dataset.card
    if as_json:
        emit_json({**card, "files": list(exported.files), "mlflow_run_id": exported.run_id})
        return
    items = card["items"]
    out.print(
        f"{items} labeled item{'' if items == 1 else 's'} as of round {card['round']} -> {exported.files[0]}",
        highlight=False,
    )
    out.print(f"data card: {exported.files[1]}", highlight=False)
    if exported.run_id:
        out.print(f"logged as a dataset of the campaign's MLflow run {exported.run_id}", highlight=False)
