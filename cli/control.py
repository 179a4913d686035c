"""`alflow pause` and `alflow resume`: a campaign held and let go, recorded in its ledger."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.console import emit_json, errors_as_exit_codes, out

REASON = typer.Option(help="why, for the ledger and `alflow status` (a contract renewal, a data problem, ...)")
AS_JSON = typer.Option("--json", help="print JSON for scripts")


def _set(config: Path, pause: bool, reason: str | None, as_json: bool) -> None:
    from alflow.config import load_campaign
    from alflow.ledger.control import set_paused
    from alflow.ledger.ledger import Ledger

    with errors_as_exit_codes():
        campaign = load_campaign(config)
        ledger = Ledger.of(campaign)
        record = set_paused(ledger, pause, reason=reason)
        current = ledger.state().paused
    if as_json:
        emit_json(
            {
                "campaign": campaign.campaign,
                "paused": current.model_dump() if current else None,
                "recorded": record.model_dump() if record else None,
            }
        )
        return
    name = campaign.campaign
    if record is None:
        since = f" since {current.at}" if current else ""
        out.print(f"{name}: already {'paused' if pause else 'running'}{since}; nothing recorded", highlight=False)
    elif pause:
        out.print(
            f"{name}: paused from round {record.round}; rounds do nothing and deliveries are not announced "
            "until `alflow resume`",
            highlight=False,
        )
    else:
        out.print(f"{name}: resumed; round {record.round} runs as usual", highlight=False)


def pause(
    config: Annotated[Path, typer.Argument(help="the campaign file")],
    reason: Annotated[str | None, REASON] = None,
    as_json: Annotated[bool, AS_JSON] = False,
) -> None:
    """Pause a campaign: its rounds ingest deliveries but train and ask nothing until `alflow resume`."""
    _set(config, True, reason, as_json)


def resume(
    config: Annotated[Path, typer.Argument(help="the campaign file")],
    reason: Annotated[str | None, REASON] = None,
    as_json: Annotated[bool, AS_JSON] = False,
) -> None:
    """Resume a paused campaign: its next round runs as usual."""
    _set(config, False, reason, as_json)


def change(
    config: Annotated[Path, typer.Argument(help="the campaign file, as edited")],
    reason: Annotated[str | None, REASON] = None,
    as_json: Annotated[bool, AS_JSON] = False,
) -> None:
    """Record a change of the campaign file's budget, strategy, batch size or stopping rules, with
    its reason, before the next round (which would record it itself, without a reason)."""
    from alflow.config import load_campaign
    from alflow.ledger.changes import change_text, record_change
    from alflow.ledger.ledger import Ledger

    with errors_as_exit_codes():
        campaign = load_campaign(config)
        record = record_change(Ledger.of(campaign), campaign, reason=reason)
    if as_json:
        emit_json({"campaign": campaign.campaign, "recorded": record.model_dump() if record else None})
    elif record is None:
        out.print(f"{campaign.campaign}: the ledger holds these settings already; nothing recorded", highlight=False)
    elif not record.changed:
        out.print(f"{campaign.campaign}: settings noted from round {record.round} (the first record)", highlight=False)
    else:
        out.print(
            f"{campaign.campaign}: from round {record.round}: {change_text(record.changed)}; recorded", highlight=False
        )
