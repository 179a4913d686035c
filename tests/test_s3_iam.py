"""The IAM and bucket policies in infra/iam/ against the bucket layout alflow uses (alflow/exchange/layout.py).

A small evaluator of the policy subset we write (Allow and Deny statements, Action/Resource globs,
StringLike / StringEquals / StringNotEquals / Null conditions): the vendor reads batches and
writes deliveries, nothing else; the pipeline reads and writes its campaign and reads its inputs
outside it, deletes nothing, and touches no other campaign; KMS is usable only for this campaign's
objects (the encryption context); the bucket policy refuses a ledger, batch or quarantine write
that is not write-once (`If-None-Match`), and any delete; versioning stays on.
"""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path

import pytest

from alflow.exchange import layout

IAM = Path(__file__).resolve().parents[1] / "infra" / "iam"
BUCKET, PREFIX, CAMPAIGN = "acme-labels", "team", "churn"
SUBSTITUTIONS = {"INPUT_BUCKET": "acme-data", "INPUT_PREFIX": "pools", "BUCKET_ADMIN_ROLE": "bucket-admin"}
SUBSTITUTIONS |= {"BUCKET": BUCKET, "PREFIX": PREFIX, "CAMPAIGN": CAMPAIGN, "REGION": "eu-west-1", "ACCOUNT": "123"}
KMS_KEY = "arn:aws:kms:eu-west-1:123:key/KMS_KEY_ID"


def policy(name: str) -> dict:
    text = (IAM / name).read_text()
    for token, value in SUBSTITUTIONS.items():  # longest first: INPUT_BUCKET before BUCKET
        text = text.replace(token, value)
    return json.loads(text)


def _list(value) -> list[str]:
    return value if isinstance(value, list) else [value]


def _conditions_hold(condition: dict, context: dict[str, str]) -> bool:
    for operator, tests in condition.items():
        for key, wanted in tests.items():
            value = context.get(key)
            if operator == "Null":
                if (value is None) != (wanted == "true"):
                    return False
            elif value is None:
                if operator != "StringNotEquals":
                    return False
            elif operator == "StringLike" and not any(fnmatch.fnmatchcase(value, w) for w in _list(wanted)):
                return False
            elif operator == "StringEquals" and value not in _list(wanted):
                return False
            elif operator == "StringNotEquals" and value in _list(wanted):
                return False
    return True


def _matches(statement: dict, action: str, resource: str, context: dict[str, str]) -> bool:
    if not any(fnmatch.fnmatchcase(action, a) for a in _list(statement["Action"])):
        return False
    if not any(fnmatch.fnmatchcase(resource, r) for r in _list(statement["Resource"])):
        return False
    return _conditions_hold(statement.get("Condition", {}), context)


def effect(doc: dict, action: str, resource: str, **context: str) -> str:
    """ "Deny" (an explicit deny), "Allow", or "none" (no statement applies: denied by default)."""
    matching = [s["Effect"] for s in doc["Statement"] if _matches(s, action, resource, context)]
    return "Deny" if "Deny" in matching else ("Allow" if matching else "none")


def s3(key: str | None = None, bucket: str = BUCKET) -> str:
    return f"arn:aws:s3:::{bucket}" + (f"/{PREFIX}/{key}" if key is not None else "")


def allowed(doc: dict, action: str, key: str | None = None, *, list_prefix: str | None = None) -> bool:
    """Whether `doc` allows `action` on the object `key` (or ListBucket with `list_prefix`)."""
    context = {"s3:prefix": f"{PREFIX}/{list_prefix}"} if list_prefix is not None else {}
    return effect(doc, action, s3(key), **context) == "Allow"


R = 3
BATCH = layout.batch_prefix(CAMPAIGN, R) + "items.csv"
BATCH_MARKER = layout.batch_prefix(CAMPAIGN, R) + layout.READY
DELIVERY = layout.delivery_prefix(CAMPAIGN, R) + "labels.csv"
DELIVERY_MARKER = layout.delivery_prefix(CAMPAIGN, R) + layout.DONE
GT_DELIVERY = layout.delivery_prefix(CAMPAIGN, R) + "job/manifests/output/output.manifest"
ROUND = layout.ledger_key(CAMPAIGN, R, "round.json")
CLAIM = layout.ledger_key(CAMPAIGN, R, "claim-0001.json")
INGEST = layout.ledger_key(CAMPAIGN, R, f"ingest-{'ab' * 16}.json")
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


def test_the_pipeline_reads_its_inputs_outside_the_campaign_and_writes_nothing_there():
    doc = policy("pipeline-policy.json")
    pool = "arn:aws:s3:::acme-data/pools/churn/pool.parquet"
    assert effect(doc, "s3:GetObject", pool) == "Allow"
    assert effect(doc, "s3:PutObject", pool) == "none"
    assert effect(doc, "s3:GetObject", "arn:aws:s3:::acme-data/secrets/x") == "none"
    assert effect(doc, "s3:ListBucket", "arn:aws:s3:::acme-data", **{"s3:prefix": "pools/arrivals/"}) == "Allow"
    assert effect(doc, "s3:ListBucket", "arn:aws:s3:::acme-data", **{"s3:prefix": "other/"}) == "none"


@pytest.mark.parametrize(
    ("name", "object_key", "expected"),
    [
        ("pipeline-policy.json", layout.ledger_key(CAMPAIGN, R, "round.json"), "Allow"),
        ("pipeline-policy.json", layout.batch_prefix("other", R) + "items.csv", "none"),
        ("vendor-policy.json", layout.batch_prefix(CAMPAIGN, R) + "items.csv", "Allow"),
        ("vendor-policy.json", layout.delivery_prefix(CAMPAIGN, R) + "labels.csv", "Allow"),
        ("vendor-policy.json", layout.ledger_key(CAMPAIGN, R, "round.json"), "none"),
    ],
)
def test_kms_is_granted_only_for_the_campaigns_objects_by_encryption_context(name, object_key, expected):
    context = {"kms:ViaService": "s3.eu-west-1.amazonaws.com", "kms:EncryptionContext:aws:s3:arn": s3(object_key)}
    assert effect(policy(name), "kms:Decrypt", KMS_KEY, **context) == expected
    direct = {"kms:EncryptionContext:aws:s3:arn": s3(object_key)}  # not through S3
    assert effect(policy(name), "kms:Decrypt", KMS_KEY, **direct) == "none"


@pytest.mark.parametrize("key", [ROUND, CLAIM, INGEST, QUARANTINE, BATCH, BATCH_MARKER])
def test_the_bucket_refuses_an_alflow_write_that_is_not_write_once(key):
    doc = policy("bucket-policy.json")
    assert effect(doc, "s3:PutObject", s3(key)) == "Deny"  # no If-None-Match: could overwrite
    assert effect(doc, "s3:PutObject", s3(key), **{"s3:if-none-match": "*"}) == "none"


def test_the_bucket_takes_a_vendors_upload_as_the_aws_cli_sends_it():
    doc = policy("bucket-policy.json")
    for key in (DELIVERY, DELIVERY_MARKER, GT_DELIVERY):  # `aws s3 cp` and `sync` send no If-None-Match
        assert effect(doc, "s3:PutObject", s3(key)) == "none"


@pytest.mark.parametrize("key", CAMPAIGN_KEYS)
def test_the_bucket_refuses_every_delete_and_keeps_versioning_on(key):
    doc = policy("bucket-policy.json")
    assert effect(doc, "s3:DeleteObject", s3(key)) == "Deny"
    assert effect(doc, "s3:DeleteObjectVersion", s3(key)) == "Deny"
    assert effect(doc, "s3:PutBucketVersioning", s3(), **{"aws:PrincipalArn": "arn:aws:iam::123:role/x"}) == "Deny"
    admin = {"aws:PrincipalArn": "arn:aws:iam::123:role/bucket-admin"}
    assert effect(doc, "s3:PutBucketVersioning", s3(), **admin) == "none"
    assert json.loads((IAM / "bucket-versioning.json").read_text()) == {"Status": "Enabled"}
    lock = json.loads((IAM / "object-lock.json").read_text())
    assert lock["ObjectLockEnabled"] == "Enabled" and lock["Rule"]["DefaultRetention"]["Mode"] == "GOVERNANCE"


@pytest.mark.parametrize("name", ["vendor-policy.json", "pipeline-policy.json", "bucket-policy.json"])
def test_policies_have_no_wildcard_actions_or_buckets(name):
    for statement in policy(name)["Statement"]:
        assert all("*" not in a for a in _list(statement["Action"])), statement
        assert all(r != "*" and not r.startswith("arn:aws:s3:::*") for r in _list(statement["Resource"]))
