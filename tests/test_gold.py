"""Gold items (issue 22): mixed into each batch under opaque ids, indistinguishable in every format,
charged, scored on intake (never labels), shown, and the rule that holds exports."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace

import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient

from alflow.config import GoldConfig, load_campaign
from alflow.errors import DataValidationError
from alflow.exchange import formats, layout
from alflow.exchange.bucket import open_store
from alflow.exchange.formats.base import ANNOTATOR, ID, LABEL
from alflow.intake.gold import GOLD_RULE, campaign_tally, gold_count, gold_rule, pool_share, read_gold
from alflow.intake.ingest import ingest_campaign
from alflow.intake.quality import aggregate_with_quality
from alflow.intake.votes import judge
from alflow.ledger.control import set_paused
from alflow.ledger.ledger import Ledger, campaign_state
from alflow.ledger.records import ControlRecord, IngestRecord, SettingsChange, Tracking
from alflow.ledger.state import CampaignState
from alflow.operations.plain import plain_round
from alflow.operations.preflight import check_inputs
from alflow.reporting.vendor_quality import gold_markdown, quality_lines, quality_metrics
from alflow.round.autolabel import AutoLabels
from alflow.round.commit import commit_round
from alflow.round.context import RoundContext
from alflow.round.decide import decide
from alflow.round.export import export_batch, finish_exports
from alflow.round.inputs import validate_inputs
from alflow.round.select import select_batch
from alflow.round.train import train_model

GOLD_IDS = [f"K{n:03d}" for n in range(30)]


def with_gold(campaign_file, **gold) -> object:
    """The demo campaign with a gold file of 30 holdout digits (ids of their own) and a `gold` section."""
    folder = campaign_file.parent / "data"
    items = pd.read_csv(folder / "holdout.csv").head(len(GOLD_IDS)).rename(columns={"label": "answer"})
    items.insert(0, "id", GOLD_IDS)
    items.to_csv(folder / "gold.csv", index=False)
    raw = yaml.safe_load(campaign_file.read_text())
    raw["gold"] = {"path": "data/gold.csv", "rate": 0.2, **gold}
    campaign_file.write_text(yaml.safe_dump(raw))
    return load_campaign(campaign_file)


def answers(campaign_file) -> dict[str, str]:
    """The answer key of the pool and of the gold items."""
    pool = pd.read_csv(campaign_file.parent / "data" / "answers.csv", dtype=str)
    gold = pd.read_csv(campaign_file.parent / "data" / "gold.csv", dtype=str)
    return {**dict(zip(pool["id"], pool["label"], strict=True)), **dict(zip(gold["id"], gold["answer"], strict=True))}


def deliver(
    config, round_: int, key: dict[str, str], *, wrong_on_gold: bool, name: str = "labels.csv", only_gold: bool = False
) -> None:
    """A scripted vendor: two annotators label the batch; `ann-b` errs on every gold item (and
    `ann-a` too when `wrong_on_gold`), both are right on pool items. One vote per item, alternating
    (`only_gold`: a third annotator's answers to the gold items alone, again)."""
    store = open_store(config.vendor.bucket)
    fmt = formats.get(config.vendor.format)
    ids = fmt.batch_ids(store.read(layout.batch_prefix(config.campaign, round_) + fmt.batch_file))
    record = campaign_state(config).rounds[round_]
    gold = dict(zip(record.gold.ids, record.gold.items, strict=True)) if record.gold else {}
    rows = []
    for n, id_ in enumerate(ids):
        who = "ann-c" if only_gold else "ann-a" if n % 2 == 0 else "ann-b"
        if only_gold and id_ not in gold:
            continue
        truth = key[gold.get(id_, id_)]
        errs = id_ in gold and (wrong_on_gold or who == "ann-b")
        rows.append((id_, str((int(truth) + 1) % 10) if errs else truth, who))
    votes = pd.DataFrame(rows, columns=[ID, LABEL, ANNOTATOR])
    written, payload = fmt.write_delivery(votes, classes=config.classes, job_name="j", created_at="")
    prefix = layout.delivery_prefix(config.campaign, round_)
    store.write_once(prefix + (name if fmt.name == "csv" else written), payload)
    if not store.exists(prefix + layout.DONE):
        store.write_once(prefix + layout.DONE, b"")


def test_gold_count_and_the_pool_share_keep_a_batch_within_its_size():
    assert [gold_count(n, 0.05) for n in (0, 1, 19, 38, 100)] == [0, 1, 1, 2, 5]
    for total in range(1, 60):
        n = pool_share(total, 0.1)
        assert n + gold_count(n, 0.1) <= total and (n + 1) + gold_count(n + 1, 0.1) > total
    assert pool_share(10, None) == 10


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda g: g.assign(answer=g["answer"].where(g.index != 3, "eleven")), "answer 'eleven' of 'K003'"),
        (lambda g: g.assign(id=g["id"].where(g.index != 2, "digit-0757")), "'digit-0757' is also in the pool"),
        (lambda g: g.drop(columns="answer"), "missing column(s) answer"),
        (lambda g: g.assign(id=g["id"].where(g.index != 4, "K000")), "id 'K000' appears twice"),
    ],
)
def test_alflow_check_refuses_a_bad_gold_file_in_one_line(campaign_file, change, message):
    config = with_gold(campaign_file)
    path = campaign_file.parent / "data" / "gold.csv"
    change(pd.read_csv(path, dtype={"id": str, "answer": str})).to_csv(path, index=False)
    with pytest.raises(DataValidationError) as error:
        check_inputs(config)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_check_describes_a_good_gold_file(campaign_file):
    config = with_gold(campaign_file, pause_below=0.8)
    assert "gold " in check_inputs(config) and "30 items, 20% of each batch, pause below 0.8" in check_inputs(config)


def _committed(config):
    ctx = RoundContext(config, validate_inputs(config), ingest_campaign(config))
    trained = train_model(ctx)
    decision = select_batch(ctx, trained, decide(ctx, trained, AutoLabels()))
    return ctx, decision, commit_round(ctx, decision, Tracking())


def _shapes(data: bytes) -> list[frozenset[str]]:
    """Each item of a batch file as the set of its key paths with the type of each value (CSV: the
    columns it fills), whatever the format."""
    text = data.decode()
    try:
        items = json.loads(text)
        items = items if isinstance(items, list) else [items]
    except json.JSONDecodeError:
        try:
            items = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError:
            rows = list(csv.DictReader(io.StringIO(text)))
            return [frozenset(k for k, v in row.items() if v != "") for row in rows]

    def paths(value, prefix=""):
        if isinstance(value, dict):
            return {p for k, v in value.items() for p in paths(v, f"{prefix}/{k}")}
        if isinstance(value, list):
            return {p for v in value for p in paths(v, f"{prefix}[]")} or {f"{prefix}[]"}
        return {f"{prefix}:{type(value).__name__}"}

    return [frozenset(paths(item)) for item in items]


def test_gold_items_cannot_be_told_from_pool_items_in_any_format(campaign_file, tmp_path):
    config = with_gold(campaign_file)
    ctx, decision, record = _committed(config)
    assert record.gold is not None and len(record.gold.ids) == gold_count(len(record.batch.ids), 0.2) == 2
    assert len(record.batch_ids) == config.strategy.batch_size  # the gold items fit in the batch's size
    for name in formats.FORMATS:
        vendor = config.vendor.model_copy(update={"format": name, "bucket": str(tmp_path / name)})
        export_batch(replace(ctx, config=config.model_copy(update={"vendor": vendor})), record, decision.batch)
        store, fmt = open_store(vendor.bucket), formats.get(name)
        prefix = layout.batch_prefix(config.campaign, 1)
        files = {key: store.read(key) for key in store.list(prefix)}
        for key, data in files.items():
            text = data.decode().lower()
            assert "gold" not in text and "answer" not in text, (name, key)
            assert not any(i.lower() in text for i in GOLD_IDS), (name, key)
        data = files[prefix + fmt.batch_file]
        ids = fmt.batch_ids(data)
        assert ids == record.batch_ids and set(record.gold.ids) <= set(ids), name
        shapes = _shapes(data)
        gold_at = [ids.index(i) for i in record.gold.ids]
        assert shapes[gold_at[0]] in {s for n, s in enumerate(shapes) if n not in gold_at}, name
        assert json.loads(files[prefix + layout.BATCH_METADATA])["count"] == len(ids)
    # the opaque ids are shaped like the pool's, and none is a pool id
    assert all(i.startswith("digit-") and len(i) == len("digit-0000") for i in record.gold.ids)


def test_a_crashed_export_writes_the_same_gold_and_no_second_set(campaign_file):
    config = with_gold(campaign_file)
    ctx, _, record = _committed(config)  # ...killed before the export
    for _ in range(2):
        finish_exports(RoundContext(config, ctx.inputs, campaign_state(config)))
    fmt = formats.get(config.vendor.format)
    data = open_store(config.vendor.bucket).read(layout.batch_prefix(config.campaign, 1) + fmt.batch_file)
    assert fmt.batch_ids(data) == record.batch_ids
    assert campaign_state(config).labels_asked == len(record.batch_ids) == config.strategy.batch_size


def test_a_round_with_a_vendor_who_errs_on_gold(campaign_file):
    config = with_gold(campaign_file, pause_below=0.8, min_answers=2)
    key = answers(campaign_file)
    first = plain_round(campaign_file)
    assert first.status == "exported" and first.batch_size == 10 and first.spend == pytest.approx(0.8)
    record = campaign_state(config).rounds[1]
    deliver(config, 1, key, wrong_on_gold=True)
    deliver(config, 1, key, wrong_on_gold=True, name="z-again.csv", only_gold=True)  # read second: duplicates

    held = plain_round(campaign_file)
    state = campaign_state(config)
    # gold answers are never labels: not counted, not trained on, not outstanding
    assert held.labels_ingested == 8 and not set(record.gold.ids) & set(state.human_labels())
    assert state.outstanding == [] and set(state.gold_answered[1]) == set(record.gold.ids)
    tally = campaign_tally(state)
    assert (tally.vendor.right, tally.vendor.answered) == (0, 2)
    assert sum(a.answered for a in tally.annotators.values()) == 2 and "ann-c" not in tally.annotators
    # the rule holds the next export and says why, in the round's line and in status
    assert held.status == "paused" and held.paused_by == GOLD_RULE
    assert "gold accuracy 0.00 (0.00-0.66, 2 answers) is below gold.pause_below 0.8" in held.message()
    assert "\n" not in held.message() and "gold: vendor 0.00" in held.message()
    assert any("vendor accuracy on gold: 0.00" in line for line in quality_lines(state))
    assert quality_metrics(state)["gold/vendor_accuracy"] == 0.0
    assert gold_markdown(state).startswith("- gold: vendor 0.00 (0.00-0.66, 2 answers)")  # the Prefect summary's
    again = plain_round(campaign_file)  # a re-run: nothing new, nothing counted twice
    assert again.status == "paused" and campaign_tally(campaign_state(config)).vendor.answered == 2

    set_paused(Ledger.of(config), False, reason="talked to the vendor")  # `alflow resume`
    resumed = plain_round(campaign_file)
    assert resumed.status == "exported" and resumed.round == 2 and "gold: vendor 0.00" in resumed.message()
    assert resumed.labels_used == 20 + 8
    run = MlflowClient(config.tracking.uri).get_run(resumed.mlflow_run_id)
    assert run.data.metrics["gold/vendor_accuracy"] == 0.0 and run.data.metrics["gold/answers"] == 2
    on_gold = {k for k in run.data.metrics if k.startswith("annotators/") and k.endswith("/gold_answers")}
    assert on_gold and on_gold <= {"annotators/ann-a/gold_answers", "annotators/ann-b/gold_answers"}
    tables = [a.path for a in MlflowClient(config.tracking.uri).list_artifacts(run.info.run_id, "tables")]
    assert "tables/annotators.json" in tables
    state = campaign_state(config)
    assert state.labels_asked == 20 and len(state.rounds[2].gold_ids) == 2
    assert not set(state.rounds[2].gold.items) & set(record.gold.items)  # a gold item not sent before first
    deliver(config, 2, key, wrong_on_gold=False)
    assert plain_round(campaign_file).status == "exported"  # one right answer after the resume: no hold


def _ingest(at: str, right: int, scored: int) -> IngestRecord:
    base = {"round": 1, "ingested_in": 2, "file": f"f{at}", "format": "csv", "aggregation": "majority"}
    base |= {
        "tie_rule": "outstanding",
        "annotators_required": 1,
        "sha256": at,
        "delivered_at": at,
        "status": "accepted",
    }
    labels = {f"o{at}{n}": "1" for n in range(scored)}
    return IngestRecord(**base, ingested_at=at, gold_labels=labels, gold_right=right, gold_scored=scored)


def _control(seq: int, action: str, at: str, by: str = GOLD_RULE) -> ControlRecord:
    return ControlRecord(seq=seq, action=action, round=2, at=at, by=by)


def _change(seq: int, at: str, before, after) -> SettingsChange:
    changed = {"gold_pause_below": [before, after]} if seq > 1 else {}
    return SettingsChange(seq=seq, round=2, at=at, by="me", settings={"gold_pause_below": after}, changed=changed)


def test_the_gold_rule_pauses_on_evidence_since_the_last_resume_and_a_changed_threshold_lifts_it(campaign):
    config = campaign.model_copy(update={"gold": GoldConfig(uri="gold.csv", pause_below=0.8, min_answers=4)})
    low = [_ingest("2026-01-01T00:00:01", 1, 4)]
    state = CampaignState("c", ingests={1: low})
    assert gold_rule(config, state)[0] is True  # 1 of 4 right: below 0.8
    few = CampaignState("c", ingests={1: [_ingest("2026-01-01T00:00:01", 0, 3)]})
    assert gold_rule(config, few) is None  # fewer than min_answers
    paused_ = replace(state, controls=(_control(1, "pause", "2026-01-01T00:00:02"),))
    assert gold_rule(config, paused_) is None  # held until resumed or the threshold changes
    by_person = replace(state, controls=(_control(1, "pause", "2026-01-01T00:00:02", by="me@host"),))
    assert gold_rule(config, by_person) is None
    lower = config.model_copy(update={"gold": config.gold.model_copy(update={"pause_below": 0.2})})
    changed = replace(
        paused_, changes=(_change(1, "2026-01-01", 0.8, 0.8), _change(2, "2026-01-01T00:00:03", 0.8, 0.2))
    )
    assert gold_rule(lower, changed)[0] is False  # 0.25 >= 0.2: lifted
    assert (
        gold_rule(
            config.model_copy(update={"gold": config.gold.model_copy(update={"pause_below": 0.5})}),
            replace(changed, changes=(_change(2, "2026-01-01T00:00:03", 0.8, 0.5),)),
        )
        is None
    )  # still below the new one
    resumed = replace(paused_, controls=(*paused_.controls, _control(2, "resume", "2026-01-01T00:00:04", by="me")))
    assert gold_rule(config, resumed) is None  # a resume accepts the evidence so far
    later = replace(resumed, ingests={1: [*low, _ingest("2026-01-01T00:00:05", 0, 4)]})
    assert gold_rule(config, later)[0] is True  # new evidence after the resume


def test_the_gold_file_is_read_with_its_answers_as_text(campaign_file):
    config = with_gold(campaign_file)
    gold = read_gold(config, [])
    assert gold["id"].tolist() == GOLD_IDS and set(gold["answer"]) <= set(config.classes)


def test_gold_answers_seed_the_annotators_accuracy_in_quality_aggregation():
    # two annotators who always disagree: the votes alone cannot say who is right
    items = [f"i{n:02d}" for n in range(12)]
    votes = pd.DataFrame(
        [(i, "1", "careful") for i in items] + [(i, "2", "careless") for i in items], columns=[ID, LABEL, ANNOTATOR]
    )
    rules = {"classes": ("1", "2", "3"), "annotators": 1, "tie_rule": "outstanding"}
    blind = aggregate_with_quality(votes, **rules)
    assert blind.labels == {} and set(blind.refused.values()) == {"tie"}
    seeded = aggregate_with_quality(votes, **rules, gold={"careful": (19, 20), "careless": (6, 20)})
    assert seeded.labels == dict.fromkeys(items, "1")
    assert seeded.accuracy["careful"] > 0.9 > 0.1 > seeded.accuracy["careless"]


def test_answers_to_gold_items_are_scored_not_labels_and_only_once():
    votes = pd.DataFrame(
        [("p1", "1", "a"), ("g1", "2", "a"), ("g1", "2", "b"), ("g2", "3", "b"), ("g3", "1", None)],
        columns=[ID, LABEL, ANNOTATOR],
    ).assign(human_annotated=[None, None, None, None, "no"])
    rules = {"classes": ("1", "2", "3"), "batch": {"p1", "g1", "g2", "g3"}, "annotators": 1}
    gold = {"g1": "2", "g2": "1", "g3": "1"}
    verdict = judge(votes, accepted={}, gold=gold, **rules)
    assert verdict.labels == {"p1": "1"} and verdict.machine_labels == {}
    assert verdict.gold.labels == {"g1": "2", "g2": "3", "g3": "1"}  # the tool's label closes a gold item too
    assert (verdict.gold.right, verdict.gold.scored) == (2, 3)
    assert verdict.gold.annotators == {"a": [1, 1], "b": [1, 2]}  # only people's votes score annotators
    again = judge(votes, accepted=verdict.gold.labels | verdict.labels, gold=gold, **rules)
    assert again.gold.labels == {} and again.labels == {}  # answered before: nothing scored twice
