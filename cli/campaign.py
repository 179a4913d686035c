"""`alflow init`: a commented example campaign file."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from alflow.config import NAME_PATTERN, example_campaign
from alflow.errors import AlflowError
from cli.console import errors_as_exit_codes, out


def init(
    name: Annotated[str, typer.Argument(help="campaign name: lowercase letters, digits, dashes")],
    path: Annotated[Path | None, typer.Option(help="where to write it (default NAME.yaml)")] = None,
) -> None:
    """Write a commented example campaign file."""
    with errors_as_exit_codes():
        if not re.match(NAME_PATTERN, name):
            raise AlflowError(f"campaign name {name!r} must be lowercase letters, digits and dashes")
        target = path or Path(f"{name}.yaml")
        if target.exists():
            raise AlflowError(f"{target} already exists; pass --path to write elsewhere")
        try:
            target.write_text(example_campaign(name))
        except OSError as error:
            raise AlflowError(f"cannot write {target}: {error.strerror}") from None
    out.print(
        f"wrote {target}: edit the pool, labels and bucket, check them with `alflow check {target}`, "
        f"then run `alflow round {target}`"
    )
