"""The IAM policies in infra/iam/ against the bucket layout alflow uses (alflow/exchange/layout.py).

A small evaluator of the policy subset we write (Allow statements, Action/Resource globs,
StringLike on s3:prefix): the vendor reads batches and writes deliveries, nothing else; the
pipeline reads and writes its campaign, deletes nothing, and touches no other campaign.
"""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path

import pytest

from alflow.exchange import layout
from alflow.ledger.writes import ingest_key

IAM = Path(__file__).resolve().parents[1] / "infra" / "iam"
BUCKET, PREFIX, CAMPAIGN = "acme-labels", "team", "churn"
SUBSTITUTIONS = {"BUCKET": BUCKET, "PREFIX": PREFIX, "CAMPAIGN": CAMPAIGN}


def policy(name: str) -> dict:
    text = (IAM / name).read_text()
    for token, value in SUBSTITUTIONS.items():
        text = text.replace(token, value)
    return json.loads(text)


def _list(value) -> list[str]:
    return value if isinstance(value, list) else [value]


def allowed(doc: dict, action: str, key: str | None = None, *, list_prefix: str | None = None) -> bool:
    """Whether `doc` allows `action` on the object `key` (or ListBucket with `list_prefix`)."""
    resource = f"arn:aws:s3:::{BUCKET}" + (f"/{PREFIX}/{key}" if key is not None else "")
    for statement in doc["Statement"]:
        assert statement["Effect"] == "Allow", "the evaluator only knows Allow statements"
        if not any(fnmatch.fnmatchcase(action, a) for a in _list(statement["Action"])):
            continue
        if not any(fnmatch.fnmatchcase(resource, r) for r in _list(statement["Resource"])):
            continue
        condition = statement.get("Condition", {}).get("StringLike", {})
        if "s3:prefix" in condition:
            if list_prefix is None:
                continue
            if not any(fnmatch.fnmatchcase(f"{PREFIX}/{list_prefix}", p) for p in _list(condition["s3:prefix"])):
                continue
        return True
    return False


R = 3
BATCH = layout.batch_prefix(CAMPAIGN, R) + "items.csv"
BATCH_MARKER = layout.batch_prefix(CAMPAIGN, R) + layout.READY
DELIVERY = layout.delivery_prefix(CAMPAIGN, R) + "labels.csv"
DELIVERY_MARKER = layout.delivery_prefix(CAMPAIGN, R) + layout.DONE
GT_DELIVERY = layout.delivery_prefix(CAMPAIGN, R) + "job/manifests/output/output.manifest"
ROUND = layout.ledger_key(CAMPAIGN, R, "round.json")
CLAIM = layout.ledger_key(CAMPAIGN, R, "claim-0001.json")
INGEST = ingest_key(CAMPAIGN, R, "ab" * 32)
QUARANTINE = layout.quarantine_prefix(CAMPAIGN, R) + "abc-labels.csv.reason.json"
OTHER_CAMPAIGN = layout.batch_prefix("other", R) + "items.csv"
CAMPAIGN_KEYS = [BATCH, BATCH_MARKER, DELIVERY, DELIVERY_MARKER, GT_DELIVERY, ROUND, CLAIM, INGEST, QUARANTINE]


@pytest.mark.parametrize(
    ("action", "key", "expected"),
    [
        ("s3:GetObject", BATCH, True),
        ("s3:GetObject", BATCH_MARKER, True),
        ("s3:PutObject", DELIVERY, True),
        ("s3:PutObject", DELIVERY_MARKER, True),
        ("s3:PutObject", GT_DELIVERY, True),
        ("s3:PutObject", BATCH, False),
        ("s3:PutObject", BATCH_MARKER, False),
        ("s3:GetObject", DELIVERY, False),
        ("s3:GetObject", ROUND, False),
        ("s3:PutObject", ROUND, False),
        ("s3:PutObject", INGEST, False),
        ("s3:PutObject", CLAIM, False),
        ("s3:GetObject", QUARANTINE, False),
        ("s3:GetObject", OTHER_CAMPAIGN, False),
        ("s3:DeleteObject", DELIVERY, False),
        ("s3:DeleteObject", BATCH, False),
        ("s3:PutObjectAcl", DELIVERY, False),
    ],
)
def test_the_vendor_reads_batches_and_writes_deliveries_nothing_else(action, key, expected):
    assert allowed(policy("vendor-policy.json"), action, key) is expected


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        (layout.batch_prefix(CAMPAIGN, R), True),
        (layout.delivery_prefix(CAMPAIGN, R), True),
        (f"{CAMPAIGN}/ledger/", False),
        (f"{CAMPAIGN}/quarantine/", False),
        ("other/batches/", False),
        ("", False),
    ],
)
def test_the_vendor_lists_only_its_batches_and_deliveries(prefix, expected):
    assert allowed(policy("vendor-policy.json"), "s3:ListBucket", list_prefix=prefix) is expected


@pytest.mark.parametrize("key", CAMPAIGN_KEYS)
def test_the_pipeline_reads_and_writes_every_key_of_its_campaign(key):
    doc = policy("pipeline-policy.json")
    assert allowed(doc, "s3:GetObject", key) and allowed(doc, "s3:PutObject", key)
    assert not allowed(doc, "s3:DeleteObject", key)  # write-once: nothing is ever deleted


def test_the_pipeline_stays_inside_its_campaign_prefix():
    doc = policy("pipeline-policy.json")
    assert not allowed(doc, "s3:GetObject", OTHER_CAMPAIGN)
    assert not allowed(doc, "s3:PutObject", OTHER_CAMPAIGN)
    assert allowed(doc, "s3:ListBucket", list_prefix=f"{CAMPAIGN}/")
    assert not allowed(doc, "s3:ListBucket", list_prefix="other/")


@pytest.mark.parametrize("name", ["vendor-policy.json", "pipeline-policy.json"])
def test_policies_have_no_wildcard_actions_or_buckets(name):
    for statement in policy(name)["Statement"]:
        assert all("*" not in a for a in _list(statement["Action"])), statement
        assert all(r != "*" and not r.startswith("arn:aws:s3:::*") for r in _list(statement["Resource"]))
