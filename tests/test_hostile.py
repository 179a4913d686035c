"""Nothing a vendor sends can stall, crash or leak a campaign.

Property tests (Hypothesis) over arbitrary bytes and arbitrary JSON for every format of the
registry: a file always yields labels or a quarantine with a reason code, never an exception
and never the reader's safety net. Then each hostile delivery the issue found, through a real
folder bucket: malformed Label Studio shapes, deep nesting, a bad byte, huge fields, links out of
the bucket, a FIFO, files over the limits, files nothing reads, and a delivery of many rows.
"""

from __future__ import annotations

import io
import json
import os
import stat

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alflow.config import CampaignConfig
from alflow.exchange import formats, layout
from alflow.exchange.formats import reading
from alflow.intake import ingest
from alflow.intake.ingest import ingest_campaign
from alflow.intake.votes import Verdict
from alflow.ledger.ledger import bucket, campaign_state
from alflow.reporting.reports import idle_report
from alflow.round.context import Inputs, RoundContext

from helpers import ask
from helpers import deliver_files as deliver

CLASSES = ("cat", "dog", "eel")
BATCH = {"t-1", "t-2", "t-3"}
# Every reason a whole file may be refused for, and every reason a row may be.
FILE_REASONS = {*ingest.FILE_REASONS, "too_many_rows"}
ROW_REASONS = {*reading.READER_PROBLEMS, "missing_id", "missing_label", "label_not_in_class_set"}
ROW_REASONS |= {"id_not_in_batch", "duplicate_vote", "tie", "too_few_votes", "conflicting_relabel"}


def config_for(fmt: str, **vendor) -> CampaignConfig:
    return CampaignConfig.model_validate(
        {
            "campaign": "hostile",
            "pool": {"uri": "pool.csv"},
            "seed_labels": {"uri": "seed.csv"},
            "classes": list(CLASSES),
            "budget": {"max_labels": 100},
            "vendor": {"bucket": "b", "format": fmt, **vendor},
            "tracking": {"uri": "sqlite:///x.db"},
        }
    )


def outcome(fmt: str, data: bytes, **vendor) -> Verdict | tuple[str, str]:
    """What the ingest makes of `data` as a delivery in format `fmt` (no store: the pure part)."""
    return ingest._verdict(config_for(fmt, **vendor), BATCH, io.BytesIO(data), "src", {}, io.BytesIO())


def assert_total(result: Verdict | tuple[str, str]) -> None:
    if isinstance(result, Verdict):
        assert set(result.reasons) <= ROW_REASONS, result.reasons
        assert set(result.labels) <= BATCH and set(result.labels.values()) <= set(CLASSES)
        assert result.refused_rows + len(result.labels) + len(result.duplicates) <= max(result.votes, 1) * 2
    else:
        reason, message = result
        assert reason in FILE_REASONS, (reason, message)  # never reader_failed: the readers are total
        assert message.startswith("src: ") and len(message) < 1200


FORMAT_NAMES = sorted(formats.FORMATS)
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
ids = st.sampled_from(["t-1", "t-2", "t-3", "zz", ""]) | json_values
labels = st.sampled_from([*CLASSES, "cow"]) | json_values


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
@FAST
@given(data=st.binary(max_size=400))
def test_any_bytes_give_labels_or_a_quarantine_reason(fmt, data):
    assert_total(outcome(fmt, data))


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
@FAST
@given(prefix=st.binary(max_size=40), good=st.booleans())
def test_any_bytes_after_a_valid_file_give_labels_or_a_reason(fmt, prefix, good):
    votes = pd.DataFrame({"id": ["t-1"], "label": ["cat"]})
    _, valid = formats.get(fmt).write_delivery(votes, classes=CLASSES, job_name="j", created_at="")
    assert_total(outcome(fmt, valid + prefix if good else prefix + valid))


def vendor_shaped(fmt: str):
    """Objects shaped like the format's (its keys), with arbitrary JSON anywhere inside."""
    if fmt == "label_studio":
        result = st.fixed_dictionaries(
            {"from_name": st.sampled_from(["label", "x"]) | json_values, "to_name": st.just("item") | json_values,
             "type": st.just("choices") | json_values,
             "value": st.fixed_dictionaries({"choices": st.lists(labels, max_size=2) | json_values}) | json_values}
        )  # fmt: skip
        annotation = st.fixed_dictionaries(
            {"result": st.lists(result, max_size=2) | json_values, "completed_by": json_values,
             "was_cancelled": json_values}
        )  # fmt: skip
        task = st.fixed_dictionaries(
            {"data": st.fixed_dictionaries({"id": ids}) | json_values,
             "annotations": st.lists(annotation | json_values, max_size=3) | json_values}
        )  # fmt: skip
        return st.lists(task | json_values, max_size=4).map(lambda t: json.dumps(t).encode())
    if fmt == "ground_truth":
        line = st.fixed_dictionaries(
            {"id": ids, "a": st.integers(-1, 4) | json_values,
             "a-metadata": st.fixed_dictionaries({"class-name": labels, "human-annotated": json_values}) | json_values,
             "source-ref": json_values, "source-ref-metadata": json_values}
        )  # fmt: skip
    elif fmt == "csv":
        cell = st.text(max_size=6) | st.sampled_from(["t-1", "cat"])
        rows = st.lists(st.lists(cell, min_size=0, max_size=4), max_size=5)
        return rows.map(lambda rs: ("id,label\n" + "\n".join(",".join(r) for r in rs)).encode())
    else:
        line = st.fixed_dictionaries({"id": ids, "label": labels, "annotator": json_values})
    return st.lists(line | json_values, max_size=5).map(lambda ls: "\n".join(json.dumps(x) for x in ls).encode())


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
@FAST
@given(data=st.data())
def test_any_json_shaped_like_the_format_gives_labels_or_a_reason(fmt, data):
    assert_total(outcome(fmt, data.draw(vendor_shaped(fmt))))


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
@pytest.mark.parametrize("opening", [b"[", b'{"a":'], ids=["lists", "objects"])
def test_deep_nesting_is_a_reason_not_a_recursion_error(fmt, opening):
    result = outcome(fmt, opening * 100_000)
    if isinstance(result, Verdict):  # a line format: one bad line
        assert result.reasons == {"malformed": 1}
    else:
        assert result[0] in ("unreadable", "missing_column"), result


@pytest.mark.parametrize(
    "export",
    [
        [{"data": {"id": "t-1"}, "annotations": [{"result": "c0"}]}],
        [{"data": {"id": "t-1"}, "annotations": ["x"]}],
        [{"data": {"id": "t-1"}, "annotations": 5}],
        [{"data": {"id": "t-1"}, "annotations": [{"result": [{"type": "choices", "value": "c0"}]}]}],
        [{"data": {"id": "t-1"}, "annotations": [{"result": ["c0"]}]}],
    ],
    ids=["result-str", "annotation-str", "annotations-int", "value-str", "result-item-str"],
)
def test_each_malformed_label_studio_shape_is_a_quarantined_row(export, campaign):
    campaign = with_format(campaign, "label_studio")
    ask(campaign, ["t-1", "t-2"])
    good = {"data": {"id": "t-2"}, "annotations": [{"result": _choice("dog")}]}
    deliver(campaign, {"export.json": json.dumps([*export, good]).encode()})

    state = ingest_campaign(campaign)  # never raises

    assert state.ingested == {1: {"t-2": "dog"}} and state.missing(1) == ["t-1"]
    [record] = state.ingests[1]
    assert record.status == "partial" and record.reasons == {"malformed": 1}
    rows = [json.loads(x) for x in bucket(campaign).read(record.quarantine).splitlines()]
    assert rows[0]["reason"] == "malformed" and rows[0]["id"] == "t-1" and "task 1" in rows[0]["detail"]


# --- through a folder bucket ---------------------------------------------------------------------------


def with_format(campaign: CampaignConfig, fmt: str, **vendor) -> CampaignConfig:
    changes = {"format": fmt, **vendor}
    return campaign.model_copy(update={"classes": CLASSES, "vendor": campaign.vendor.model_copy(update=changes)})


def _choice(label: str) -> list[dict]:
    return [{"from_name": "label", "to_name": "item", "type": "choices", "value": {"choices": [label]}}]


def root(campaign: CampaignConfig):
    return bucket(campaign).root  # type: ignore[attr-defined]


def test_one_bad_byte_costs_one_row(campaign):
    campaign = with_format(campaign, "csv")
    ask(campaign, ["t-1", "t-2", "t-3"])
    deliver(campaign, {"labels.csv": b"id,label\nt-1,cat\nt-2,d\xf0\x28og\nt-3,eel\n"})

    state = ingest_campaign(campaign)

    assert state.ingested == {1: {"t-1": "cat", "t-3": "eel"}}
    [record] = state.ingests[1]
    assert record.reasons == {"undecodable": 1} and record.rejected[0].id == "t-2"
    assert record.rejected[0].label == "d\\udcf0(og"  # kept as escapes: valid Unicode in the ledger


def test_huge_fields_are_capped_in_what_the_ledger_keeps(campaign):
    campaign = with_format(campaign, "ground_truth")
    ask(campaign, ["t-1", "t-2"])
    huge = "x" * 400_000  # a line under the 1 MiB line limit, fields of hundreds of kilobytes
    meta = {"class-name": "cat", "job-name": huge, "creation-date": huge, "human-annotated": "yes"}
    lines = [
        {"id": "t-1", "label": 0, "label-metadata": meta},
        {"id": huge, "label": 0, "label-metadata": {"class-name": huge}},
        {"id": "t-2", "label": 0, "label-metadata": {"class-name": "x" * 5_000_000}},  # over it: one bad line
    ]
    deliver(campaign, {"job/manifests/output/output.manifest": "\n".join(map(json.dumps, lines)).encode()})

    state = ingest_campaign(campaign)

    assert state.ingested == {1: {"t-1": "cat"}}
    ledger = [p for p in root(campaign).rglob("ingest-*.json")]
    assert len(ledger) == 1 and ledger[0].stat().st_size < 20_000  # not megabytes
    [record] = state.ingests[1]
    assert record.label_metadata["t-1"]["job_name"].endswith("(+399744 characters)")
    assert [(len(r.id or ""), r.reason) for r in record.rejected] == [
        (280, "label_not_in_class_set"),
        (3, "too_long"),
    ]  # the id "t-2" named from the line's head


def test_a_link_out_of_the_bucket_is_refused_and_never_read(campaign, tmp_path):
    secret = tmp_path / "outside" / "secret.csv"
    secret.parent.mkdir()
    secret.write_text("id,label\ndigit-0001,3\nTOP-SECRET,3\n")
    (tmp_path / "outside" / "inner").mkdir()
    (tmp_path / "outside" / "inner" / "more.csv").write_text("id,label\nTOP-SECRET,3\n")
    ask(campaign, ["digit-0001"])
    folder = root(campaign) / layout.delivery_prefix(campaign.campaign, 1)
    folder.mkdir(parents=True)
    (folder / "labels.csv").symlink_to(secret)
    (folder / "sub").symlink_to(secret.parent / "inner", target_is_directory=True)
    (folder / "_DONE").write_bytes(b"")

    state = ingest_campaign(campaign)

    assert state.human_labels() == {}
    reasons = sorted((r.file.rsplit("/", 1)[-1], r.reason) for r in state.ingests[1])
    assert reasons == [("labels.csv", "link"), ("sub", "link")]
    copied = [p.read_bytes() for p in root(campaign).rglob("*") if p.is_file() and not p.is_symlink()]
    assert not any(b"TOP-SECRET" in data for data in copied)  # nothing behind a link reached the bucket
    assert ingest_campaign(campaign).ingests == state.ingests  # reported once


def test_a_round_folder_that_is_a_link_is_never_followed(campaign, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "labels.csv").write_text("id,label\ndigit-0001,3\n")
    (outside / "_DONE").write_text("")
    ask(campaign, ["digit-0001"])
    deliveries = root(campaign) / campaign.campaign / "deliveries"
    deliveries.mkdir(parents=True)
    (deliveries / "round-0001").symlink_to(outside, target_is_directory=True)

    state = ingest_campaign(campaign)

    assert state.ingested == {} and 1 not in state.delivered  # the link is not even listed as a folder


def test_a_fifo_in_a_delivery_does_not_block_the_round(campaign):
    ask(campaign, ["digit-0001"])
    deliver(campaign, {"labels.csv": b"id,label\ndigit-0001,3\n"})
    os.mkfifo(root(campaign) / layout.delivery_prefix(campaign.campaign, 1) / "pipe.csv")

    state = ingest_campaign(campaign)

    assert state.ingested == {1: {"digit-0001": "3"}}
    assert {r.reason for r in state.ingests[1] if r.status == "rejected"} == {"not_a_file"}


def test_files_the_bucket_writes_are_readable_by_other_users(campaign):
    previous = os.umask(0o022)
    try:
        ask(campaign, ["digit-0001"])
    finally:
        os.umask(previous)
    path = root(campaign) / layout.ledger_key(campaign.campaign, 1, "round.json")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o755


def test_files_over_the_limits_are_refused_at_once(campaign):
    campaign = with_format(campaign, "csv", max_delivery_bytes=200, max_delivery_rows=3)
    ask(campaign, ["digit-0001", "digit-0002"])
    big = b"id,label\n" + b"digit-9999,cat\n" * 100
    rows = b"id,label\ndigit-0001,cat\ndigit-0002,dog\ndigit-0001,cat\ndigit-0002,dog\n"
    deliver(campaign, {"big.csv": big, "rows.csv": rows, "ok.csv": b"id,label\ndigit-0001,cat\n"})

    state = ingest_campaign(campaign)

    assert state.ingested == {1: {"digit-0001": "cat"}}
    by_name = {r.file.rsplit("/", 1)[-1]: r for r in state.ingests[1]}
    assert by_name["big.csv"].reason == "too_large" and "not read" in by_name["big.csv"].message
    assert by_name["rows.csv"].reason == "too_many_rows"
    store = bucket(campaign)
    reason = json.loads(store.read(by_name["big.csv"].quarantine + ".reason.json"))
    assert reason["copied"] is False and not store.exists(by_name["big.csv"].quarantine)


def test_a_reader_bug_is_quarantined_and_the_round_goes_on(campaign, monkeypatch):
    def broken(stream, *, source, options):
        raise KeyError("a bug")
        yield

    spec = formats.get("csv")
    monkeypatch.setitem(formats.FORMATS, "csv", type(spec)(**{**spec.__dict__, "read_delivery": broken}))
    ask(campaign, ["digit-0001"])
    deliver(campaign, {"labels.csv": b"id,label\ndigit-0001,3\n"})

    state = ingest_campaign(campaign)

    [record] = state.ingests[1]
    assert record.reason == "reader_failed" and "KeyError" in record.message and state.missing(1) == ["digit-0001"]


def test_files_nothing_reads_are_reported_once_in_the_output_and_a_record(campaign):
    ask(campaign, ["digit-0001"])
    store, c = bucket(campaign), campaign.campaign
    for key in (
        f"{c}/deliveries/round-0099/labels.csv",
        f"{c}/deliveries/labels.csv",
        f"{c}/deliveries/round-1/labels.csv",
        f"{c}/Deliveries/round-0001/labels.csv",
        f"{c}/data/pool.csv",  # the team's own files beside the campaign are not the vendor's
    ):
        store.write_once(key, b"id,label\ndigit-0001,3\n")

    state = ingest_campaign(campaign)

    found = {s.file.removeprefix(f"{c}/"): s.reason for s in state.strays_now}
    assert found == {
        "deliveries/round-0099/labels.csv": "unknown_round",
        "deliveries/labels.csv": "unexpected_prefix",
        "deliveries/round-1/labels.csv": "unexpected_prefix",
        "Deliveries/round-0001/labels.csv": "unexpected_prefix",
    }
    message = idle_report(RoundContext(campaign, Inputs([], [], 0, {}), state)).message()
    assert "4 delivery files not read" in message and "ledger/strays/" in message
    assert "did you mean round-0001?" in " ".join(s.message for s in state.strays_now)
    again = ingest_campaign(campaign)
    assert again.strays_now == () and len(again.reported) == 4  # recorded once, not every round


def test_a_second_round_knows_a_file_without_reading_it_again(campaign, monkeypatch):
    ask(campaign, ["digit-0001", "digit-0002"])
    deliver(campaign, {"labels.csv": b"id,label\ndigit-0001,3\n"})
    ingest_campaign(campaign)
    reads = []
    store_type = type(bucket(campaign))
    original = store_type.download
    monkeypatch.setattr(
        store_type, "download", lambda self, key, *a, **k: reads.append(key) or original(self, key, *a, **k)
    )

    ingest_campaign(campaign)

    assert reads == []


def test_the_vendors_auto_labels_are_kept_apart_and_not_charged(campaign):
    campaign = with_format(campaign, "ground_truth")
    ask(campaign, ["t-1", "t-2", "t-3"])
    lines = [
        {"id": "t-1", "label": 0, "label-metadata": {"class-name": "cat", "human-annotated": "yes"}},
        {"id": "t-2", "label": 1, "label-metadata": {"class-name": "dog", "human-annotated": "no"}},
        {"id": "t-3", "label": 2, "label-metadata": {"class-name": "eel", "human-annotated": "no"}},
    ]
    deliver(campaign, {"j/manifests/output/output.manifest": "\n".join(map(json.dumps, lines)).encode()})

    state = ingest_campaign(campaign)

    assert state.human_labels() == {"t-1": "cat"} and state.vendor_machine_labels() == {"t-2": "dog", "t-3": "eel"}
    assert state.outstanding == [] and state.human_labels_asked == 1
    inputs = Inputs([], [], 0, {"s-1": "cat"})
    kept_apart = RoundContext(campaign, inputs, state)
    assert kept_apart.labeled == {"s-1": "cat", "t-1": "cat"} and kept_apart.budget.asked == 1
    trained = RoundContext(with_format(campaign, "ground_truth", machine_labels="train"), inputs, state)
    assert trained.labeled == {"s-1": "cat", "t-1": "cat", "t-2": "dog", "t-3": "eel"} and trained.budget.asked == 1
    message = idle_report(RoundContext(campaign, inputs, state)).message()
    assert "2 vendor auto-labels" in message


@pytest.mark.slow
def test_a_delivery_of_a_million_rows_is_judged_and_quarantined(campaign):
    """Correctness at 10^6 rows; the time and memory bound is benchmarks/ingest_large.py's."""
    ask(campaign, ["digit-0001", "digit-0002", "digit-0003"])
    n = 1_000_000
    body = "".join(f"unknown-{i:07d},3\n" for i in range(n - 3))
    data = f"id,label\ndigit-0001,3\n{body}digit-0002,4\ndigit-0003,eleven\n".encode()
    deliver(campaign, {"big.csv": data})

    state = ingest_campaign(campaign)

    assert state.ingested == {1: {"digit-0001": "3", "digit-0002": "4"}}
    [record] = state.ingests[1]
    assert record.status == "partial" and record.votes == n and record.refused_rows == n - 2
    assert record.reasons == {"id_not_in_batch": n - 3, "label_not_in_class_set": 1}
    assert len(record.rejected) == 100 and record.rejected[0].row == 2
    store = bucket(campaign)
    assert store.read(record.quarantine).count(b"\n") == ingest.QUARANTINE_ROWS + 1  # a sample of each reason
    assert campaign_state(campaign).ingests == state.ingests and ingest_campaign(campaign).ingested_now == ()


@FAST
@given(data=st.binary(max_size=300), limit=st.integers(4, 40))
def test_text_lines_split_like_the_bytes_and_skip_only_long_lines(data, limit):
    lines = reading.TextLines(io.BytesIO(data), max_line=limit)
    got = list(lines)
    expected = data.removeprefix(b"\xef\xbb\xbf").split(b"\n")
    if expected[-1] == b"":
        expected.pop()
    assert len(got) == len(expected)
    for number, (line, raw) in enumerate(zip(got, expected, strict=True), start=1):
        if number in lines.too_long:
            assert len(raw) > limit and line.strip("\n") == ""
        else:
            assert line.rstrip("\n").encode("utf-8", "surrogateescape") == raw


def test_a_line_too_long_costs_that_line_only():
    data = b"id,label\nt-1,cat\nt-2," + b"d" * (3 * reading.MAX_LINE) + b"\nt-3,eel\n"
    result = outcome("csv", data)
    assert isinstance(result, Verdict) and result.labels == {"t-1": "cat", "t-3": "eel"}
    assert result.reasons == {"too_long": 1}


def test_status_counts_the_items_delivered_not_the_votes(campaign):
    from alflow.reporting.reports import status_rows

    campaign = with_format(campaign, "csv", annotators=2)
    ask(campaign, ["t-1", "t-2", "t-3"])
    votes = "".join(f"{i},cat,ann{n}\n" for i in ("t-1", "t-2", "t-3") for n in (1, 2, 3))
    deliver(campaign, {"labels.csv": f"id,label,annotator\n{votes}".encode()})
    ingest_campaign(campaign)

    [row] = status_rows(campaign)
    assert row["delivered"] == 3 and row["ingested"] == 3  # 9 votes for 3 items
