"""The bucket layout: where each kind of object lives under `<bucket>/<campaign>/`.

    ledger/round-0001/...            alflow's records (alflow.ledger says what each one is)
    ledger/strays/...                files found where nothing reads them, reported once each
    ledger/control/0001-pause.json   the campaign paused or resumed, in order, each written once
    ledger/changes/0001.json         the campaign's settings (budget, strategy, stopping) as changed, in order
    ledger/stopset.json              the stop set models are compared on (stopping.stable_predictions), once
    ledger/reviews/review-0001/...   a review of labels already taken: its request, then a verdict per delivery file
                                     (and notice.json once the watcher announced its answers)
    batches/review-0001/, deliveries/review-0001/   its batch and the vendor's answers, as a round's
    batches/round-0001/<batch file>  the batch for the vendor, then batch.json, then _READY last
    deliveries/round-0001/...        the vendor's label files, then _DONE last
    quarantine/round-0001/...        rejected files or rows, with a .reason.json beside each
    checks/inputs-<digest>.json      inputs that passed validation, by their files' versions
    ledger/_writable                 the probe `alflow check` writes once on S3, to see the prefix takes writes

This is all the exchange knows of campaigns: a campaign is a key prefix, a round a folder name.
docs/VENDORS.md is the vendor's view of the same layout.
"""

from __future__ import annotations

FOLDERS = ("batches", "checks", "deliveries", "ledger", "quarantine")  # a campaign's top-level folders
READY = "_READY"  # written last into a batch folder: the vendor may take the batch
DONE = "_DONE"  # written last into a delivery folder by the vendor: alflow may ingest it
BATCH_METADATA = "batch.json"


def round_dir(round_: int) -> str:
    return f"round-{round_:04d}"


def round_of(key: str) -> int | None:
    """The round number a key lives under, or None."""
    for part in key.split("/"):
        if part.startswith("round-") and part[6:].isdigit():
            return int(part[6:])
    return None


def ledger_key(campaign: str, round_: int, name: str) -> str:
    return f"{campaign}/ledger/{round_dir(round_)}/{name}"


def batch_prefix(campaign: str, round_: int) -> str:
    return f"{campaign}/batches/{round_dir(round_)}/"


def delivery_prefix(campaign: str, round_: int) -> str:
    return f"{campaign}/deliveries/{round_dir(round_)}/"


def quarantine_prefix(campaign: str, round_: int) -> str:
    return f"{campaign}/quarantine/{round_dir(round_)}/"


def check_key(campaign: str, digest: str) -> str:
    """The record of inputs (pool, seed labels, holdout) that passed validation, named by their versions."""
    return f"{campaign}/checks/inputs-{digest}.json"


def control_prefix(campaign: str) -> str:
    return f"{campaign}/ledger/control/"


def control_key(campaign: str, seq: int, action: str) -> str:
    """The `seq`-th pause or resume of a campaign."""
    return f"{control_prefix(campaign)}{seq:04d}-{action}.json"


def change_prefix(campaign: str) -> str:
    return f"{campaign}/ledger/changes/"


def change_key(campaign: str, seq: int) -> str:
    """The `seq`-th record of a campaign's settings."""
    return f"{change_prefix(campaign)}{seq:04d}.json"


def stop_set_key(campaign: str) -> str:
    """The campaign's stop set: items drawn once from the pool, never asked, where models are compared."""
    return f"{campaign}/ledger/stopset.json"


def probe_key(campaign: str) -> str:
    """The one object outside every round folder: written once by a check, never read by the ledger."""
    return f"{campaign}/ledger/_writable"


def stray_key(campaign: str, digest: str) -> str:
    """The record of a file left where nothing reads it (keyed by a digest of its key)."""
    return f"{campaign}/ledger/strays/stray-{digest[:32]}.json"


def is_round_dir(part: str) -> bool:
    """Whether a key part is a round folder as alflow names them (round-0001, not round-1)."""
    return round_of(part) is not None and part == round_dir(int(part[6:]))


REVIEW = "review-"  # a review batch's folder name: review-0001, beside the round folders


def review_dir(seq: int) -> str:
    return f"{REVIEW}{seq:04d}"


def review_of(key: str) -> int | None:
    """The review number a key lives under (a `review-NNNN` folder, not a file's name), or None."""
    for part in key.split("/")[:-1]:
        if part.startswith(REVIEW) and part[len(REVIEW) :].isdigit():
            return int(part[len(REVIEW) :])
    return None


def review_prefix(campaign: str) -> str:
    """Where the records of reviews of labels already taken live (alflow.operations.review)."""
    return f"{campaign}/ledger/reviews/"


def review_key(campaign: str, seq: int, name: str) -> str:
    return f"{review_prefix(campaign)}{review_dir(seq)}/{name}"


def review_batch_prefix(campaign: str, seq: int) -> str:
    return f"{campaign}/batches/{review_dir(seq)}/"


def review_delivery_prefix(campaign: str, seq: int) -> str:
    return f"{campaign}/deliveries/{review_dir(seq)}/"
