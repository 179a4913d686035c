"""Files a vendor left where nothing reads them: found in the campaign's one listing, reported once.

A delivery to a round that does not exist (`deliveries/round-0099/`) or that asked for nothing, a
file directly under `deliveries/` or in a folder that is not a round folder (`round-1`), a folder
named almost like `deliveries` (`Deliveries/`, `delivery/`): none of these is ever read, so each
is recorded once (`ledger/strays/`, alflow.ledger.records.StrayRecord) and named in the round's
output, instead of waiting silently.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from alflow.exchange import layout

DELIVERIES = "deliveries"


def _near_deliveries(folder: str) -> bool:
    name = folder.strip().lower()
    return name == DELIVERIES or bool(difflib.get_close_matches(name, [DELIVERIES], n=1, cutoff=0.75))


def classify(key: str, campaign: str, rounds: dict[int, bool]) -> tuple[str, str] | None:
    """(reason, message) when `key` is a vendor's file nothing reads, else None.

    `rounds` maps each round of the campaign to whether it asked for a batch.
    """
    parts = key.split("/")[1:] if key.startswith(f"{campaign}/") else []
    if not parts:
        return None
    top, rest = parts[0], parts[1:]
    if top != DELIVERIES:
        if top not in layout.FOLDERS and rest and _near_deliveries(top):
            return (
                "unexpected_prefix",
                f"{key}: {top}/ is not read; label files go under {campaign}/{DELIVERIES}/round-NNNN/",
            )
        return None
    if len(rest) < 2:
        return "unexpected_prefix", f"{key}: not in a round folder; label files go under {DELIVERIES}/round-NNNN/"
    folder = rest[0]
    if not layout.is_round_dir(folder):
        hint = f" (did you mean {layout.round_dir(n)}?)" if (n := layout.round_of(folder)) is not None else ""
        return (
            "unexpected_prefix",
            f"{key}: {folder!r} is not a round folder{hint}; they are named round-0001, round-0002, ...",
        )
    number = int(folder[6:])
    if number not in rounds:
        known = f"rounds 1-{max(rounds)}" if rounds else "no rounds yet"
        return "unknown_round", f"{key}: the campaign has no round {number} ({known}); nothing reads it"
    if not rounds[number]:
        return "round_without_batch", f"{key}: round {number} asked for no labels; nothing reads it"
    return None


def find(keys: Iterable[str], campaign: str, rounds: dict[int, bool]) -> list[tuple[str, str, str]]:
    """(key, reason, message) of every file in `keys` that nothing reads."""
    return [(key, *found) for key in keys if (found := classify(key, campaign, rounds))]
