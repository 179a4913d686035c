"""Campaigns of tags and numbers through real rounds (the library's round recipe, a real MLflow file
store, a vendor delivering from the answer key): training per kind, its metrics, MLflow, stopping."""

from __future__ import annotations

import json
import math
import shutil

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient

from alflow.config import load_campaign
from alflow.errors import ConfigError
from alflow.exchange import layout
from alflow.kinds import LabelKind, tags
from alflow.ledger.ledger import bucket, campaign_state
from alflow.model import targets
from alflow.operations.kind_data import write_kind_data
from alflow.operations.plain import plain_round
from alflow.reporting import dashboard
from alflow.reporting.round_run import empty_tags

from helpers import vendor_for

TOPICS = ("billing", "outage", "security", "feature", "praise")


@pytest.fixture
def kind_file(request, tmp_path, mlflow_template):
    shutil.copy(mlflow_template, tmp_path / "mlflow.db")
    dataset, fmt = request.param
    return write_kind_data(tmp_path, dataset, fmt=fmt, max_labels=60, batch_size=20)


def _run(config, name: str):
    client = MlflowClient(tracking_uri=config.tracking.uri)
    [experiment] = [e for e in client.search_experiments() if e.name == config.experiment]
    runs = client.search_runs([experiment.experiment_id], filter_string=f"run_name = '{name}'")
    return client, runs[0]


def _png(client, run, path: str) -> np.ndarray:
    """An image the round run logged, downloaded from the MLflow store and decoded (rows, columns, RGBA)."""
    import tempfile

    from matplotlib.image import imread

    with tempfile.TemporaryDirectory() as folder:
        local = client.download_artifacts(run.info.run_id, path, folder)
        return imread(local)


def _pool_rows(config, n: int = 5) -> pd.DataFrame:
    return pd.read_csv(config.pool.uri).drop(columns="id").head(n)


@pytest.mark.slow
@pytest.mark.parametrize("kind_file", [("multilabel", "label_studio")], indirect=True)
def test_a_tagging_campaign_trains_measures_logs_and_registers_a_multi_label_model(kind_file):
    config = load_campaign(kind_file)
    first = plain_round(kind_file)
    assert first.status == "exported" and first.labels_used == 20
    # the batch goes out as Label Studio takes tags: several choices, the model's tags pre-annotated
    store, folder = bucket(config), layout.batch_prefix(config.campaign, 1)
    assert b'choice="multiple"' in store.read(folder + "label_config.xml")
    batch = campaign_state(config).rounds[1].batch
    tasks = json.loads(store.read(folder + "tasks.json"))
    guesses = [[c for r in t["predictions"][0]["result"] for c in r["value"]["choices"]] for t in tasks]
    assert guesses == [list(tags(p)) for p in batch.predicted] and any(guesses)
    vendor_for(config, kind_file.parent / "data" / "answers.csv").deliver(1, fmt="label_studio")
    second = plain_round(kind_file)
    assert second.status == "exported" and second.labels_used == 40, second.message()
    answers = dict(pd.read_csv(kind_file.parent / "data" / "answers.csv", dtype=str).itertuples(index=False))
    assert campaign_state(config).ingested[1] == {i: answers[i] for i in batch.ids}  # each once, as delivered

    metrics = campaign_state(config).rounds[2].metrics
    assert set(metrics) >= {"f1_macro", "f1_micro", "hamming_loss", "subset_accuracy"}
    assert {f"model/f1_label/{t}" for t in TOPICS} <= set(metrics)
    assert 0 < metrics["f1_macro"] <= 1 and 0 <= metrics["hamming_loss"] < 0.5
    # the round record's numbers are the ones logged to MLflow, grouped under model/
    client, run = _run(config, "round-0002")
    for name in ("model/f1_macro", "model/f1_micro", "model/hamming_loss", "model/subset_accuracy"):
        assert run.data.metrics[name] == pytest.approx(metrics[name.removeprefix("model/")])
    assert run.data.metrics["model/f1_label/outage"] == pytest.approx(metrics["model/f1_label/outage"])
    assert run.data.params["strategy_used"] == "typiclust" and run.data.params["stop_metric"] == "f1_macro"
    # the round's per-label F1 bar plot, read back from the MLflow store
    assert _png(client, run, "plots/f1_by_label.png").shape[1] >= 6 * 90
    assert "TypiClust" in run.data.params["strategy_reason"]
    # labels per tag, grouped like a class campaign's: the items carrying each tag, and those labeled
    # with the empty set (this campaign allows it), over the 40 labels the round trained on
    seed = dict(pd.read_csv(kind_file.parent / "data" / "seed.csv", dtype=str).itertuples(index=False))
    trained_on = [*seed.values(), *(answers[i] for i in batch.ids)]
    assert len(trained_on) == 40 and trained_on.count("[]") > 0
    for topic in TOPICS:
        assert run.data.metrics[f"labels_per_class/{topic}"] == sum(topic in tags(t) for t in trained_on)
    assert run.data.metrics["labels_per_class/no tags"] == trained_on.count("[]")

    mlflow.set_tracking_uri(config.tracking.uri)
    model = mlflow.pyfunc.load_model(f"models:/{config.campaign}/2")
    predicted = np.asarray(model.predict(_pool_rows(config)))
    assert predicted.shape == (5, len(TOPICS)) and set(np.unique(predicted)) <= {0, 1}


@pytest.mark.slow
@pytest.mark.parametrize("kind_file", [("friedman", "jsonl")], indirect=True)
def test_a_numeric_campaign_trains_a_regressor_and_logs_r2_rmse_and_mae(kind_file):
    config = load_campaign(kind_file)
    assert config.model.preset == "ridge" and config.stopping.metric == "r2"
    plain_round(kind_file)
    vendor_for(config, kind_file.parent / "data" / "answers.csv").deliver(1, fmt="jsonl")
    second = plain_round(kind_file)
    assert second.labels_used == 40, second.message()
    metrics = campaign_state(config).rounds[2].metrics
    holdout = pd.read_csv(config.holdout.uri)
    spread = float(holdout["label"].std(ddof=0))
    assert 0.3 < metrics["r2"] <= 1 and 0 < metrics["mae"] <= metrics["rmse"] < spread
    assert metrics["rmse"] == pytest.approx(spread * math.sqrt(1 - metrics["r2"]), rel=1e-6)
    client, run = _run(config, "round-0002")
    assert run.data.metrics["model/r2"] == pytest.approx(metrics["r2"])
    assert _png(client, run, "plots/residuals.png").shape[:2] == (4 * 90, 6 * 90)  # read back from MLflow
    assert "plots/f1_by_label.png" not in {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    mlflow.set_tracking_uri(config.tracking.uri)
    predicted = np.asarray(mlflow.pyfunc.load_model(f"models:/{config.campaign}/2").predict(_pool_rows(config)))
    assert predicted.shape == (5,) and predicted.dtype.kind == "f"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kind_file", "metric"), [(("multilabel", "csv"), "f1_macro"), (("diabetes", "csv"), "r2")], indirect=["kind_file"]
)
def test_the_stopping_target_is_the_kinds_main_metric(kind_file, metric):
    raw = yaml.safe_load(kind_file.read_text())
    raw["stopping"] = {"target": 0.05}
    kind_file.write_text(yaml.safe_dump(raw))
    report = plain_round(kind_file)
    assert report.status == "stopped" and report.stop_reason == "target_reached"
    assert report.metrics[metric] >= 0.05


# --- the model of each kind -----------------------------------------------------------------------------

MULTI = LabelKind("multi", ("a", "b", "c"))
NUMBER = LabelKind("number")


def _model_config(**section):
    from alflow.config.schema import ModelConfig

    return ModelConfig(**section)


@pytest.mark.parametrize(
    ("kind", "counted"),
    [
        (LabelKind("multi", TOPICS, allow_empty=True), {"labels_empty_tags": 2}),
        (LabelKind("multi", TOPICS), {}),  # the empty set refused at intake: nothing to count
        (LabelKind("class", TOPICS), {}),
        (LabelKind("number"), {}),
    ],
    ids=["tags-empty-allowed", "tags", "class", "number"],
)
def test_items_with_no_tag_are_counted_where_the_campaign_allows_them(kind, counted):
    assert empty_tags(kind, ["[]", "billing", "billing;outage", "[]"]) == counted
    assert dashboard.metric_names(counted) == ({"labels_per_class/no tags": 2} if counted else {})


def test_presets_and_estimators_by_import_path_are_checked_for_the_kind():
    assert targets.check_model(_model_config(), MULTI, seed=0).startswith("OneVsRestClassifier")
    assert targets.check_model(_model_config(preset="random_forest"), NUMBER, seed=0).startswith(
        "RandomForestRegressor"
    )
    wrapped = targets.build_estimator(_model_config(estimator="sklearn.svm.LinearSVC"), MULTI, seed=0)
    assert type(wrapped).__name__ == "OneVsRestClassifier"
    assert targets.check_model(_model_config(estimator="sklearn.ensemble.GradientBoostingRegressor"), NUMBER, seed=0)
    for estimator, kind, message in [
        ("sklearn.linear_model.Ridge", MULTI, "sklearn.linear_model.Ridge is not a classifier; labels.kind multi"),
        ("sklearn.svm.SVC", NUMBER, "sklearn.svm.SVC is not a regressor; labels.kind number needs one"),
    ]:
        with pytest.raises(ConfigError, match=message):
            targets.build_estimator(_model_config(estimator=estimator), kind, seed=0)


def test_the_per_label_f1_and_residual_figures_draw_the_round_numbers():
    from alflow.reporting import kind_plots

    metrics = {"f1_macro": 0.5, "model/f1_label/a": 1.0, "model/f1_label/b": 0.0, "model/f1_label/c": 0.5}
    scores = kind_plots.f1_by_label(metrics, MULTI.classes)
    assert scores == {"a": 1.0, "b": 0.0, "c": 0.5} and kind_plots.f1_by_label(targets.cold(MULTI), ("a",)) == {}
    [ax] = kind_plots.label_f1(scores).axes
    assert [bar.get_height() for bar in ax.patches] == [1.0, 0.0, 0.5]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    [ax] = kind_plots.residuals([1.0, 2.0, 3.0], [1.5, 2.0, 2.0], unit="points").axes
    assert ax.collections[0].get_offsets().tolist() == [[1.5, 0.5], [2.0, 0.0], [2.0, -1.0]]
    assert "RMSE 0.645" in ax.get_title() and ax.get_xlabel() == "predicted (points)"


def test_metrics_of_tags_and_numbers_are_scikit_learns():
    truth, predicted = ["a;b", "c", "[]", "a"], ["a", "c", "b", "a"]
    scores = targets.scores(MULTI, truth, predicted)
    assert scores["subset_accuracy"] == 0.5 and scores["hamming_loss"] == pytest.approx(2 / 12)
    assert scores["model/f1_label/a"] == 1.0 and scores["model/f1_label/b"] == 0.0
    assert scores["f1_macro"] == pytest.approx((1 + 0 + 1) / 3) and scores["f1_micro"] == pytest.approx(0.75)
    numbers = targets.scores(NUMBER, ["1", "2", "3"], ["1", "2", "5"])
    assert numbers["mae"] == pytest.approx(2 / 3) and numbers["rmse"] == pytest.approx(math.sqrt(4 / 3))
    assert numbers["r2"] == pytest.approx(1 - 4 / 2)


def test_a_label_model_trains_on_text_predicts_text_and_cross_validates():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = np.asarray([";".join(t for t, on in zip("abc", row > 0, strict=True) if on) or "[]" for row in X])
    model = targets.train(targets.build_model(_model_config(), MULTI, seed=0), X, y)
    assert (model.predict(X) == y).mean() > 0.9 and model.fitted_.predict(X).shape == (60, 3)
    cv = targets.cross_validated(targets.build_model(_model_config(), MULTI, seed=0), X, y, MULTI, seed=0)
    assert cv["subset_accuracy"] > 0.8
    assert not targets.trainable(NUMBER, np.asarray(["3", "3.0"])) and targets.trainable(NUMBER, np.asarray(["3", "4"]))
    assert math.isnan(
        targets.cross_validated(
            targets.build_model(_model_config(preset="ridge"), NUMBER, seed=0),
            X[:3],
            np.asarray(["1", "2", "3"]),
            NUMBER,
            seed=0,
        )["r2"]
    )


# --- the campaign file: each kind's defaults, and what does not fit it ----------------------------------------


def _load(tmp_path, dataset: str, change=lambda raw: None):
    path = write_kind_data(tmp_path, dataset)
    raw = yaml.safe_load(path.read_text())
    change(raw)
    path.write_text(yaml.safe_dump(raw))
    return load_campaign(path)


def test_a_strategy_of_another_kind_is_refused_for_a_single_class_campaign(tmp_path, campaign_file):
    raw = yaml.safe_load(campaign_file.read_text())
    raw["strategy"]["name"] = "mean_max_loss"
    campaign_file.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"strategy mean_max_loss is for labels\.kind multi or number, not class"):
        load_campaign(campaign_file)
    assert _load(tmp_path, "friedman", lambda r: r["strategy"].update(name="committee_variance")).strategy.name


def test_each_kind_gets_its_model_and_stopping_metric_by_default(tmp_path):
    assert _load(tmp_path / "m", "multilabel").stopping.metric == "f1_macro"
    numeric = _load(tmp_path / "n", "diabetes", lambda r: r.update(model={"params": {"alpha": 2.0}}))
    assert numeric.model.preset == "ridge" and numeric.model.params == {"alpha": 2.0}


@pytest.mark.parametrize(
    ("dataset", "change", "message"),
    [
        ("multilabel", lambda r: r.update(stopping={"metric": "accuracy"}), "stopping.metric accuracy is not a metric"),
        ("diabetes", lambda r: r.update(model={"preset": "logistic_regression"}), "use ridge, random_forest or tfidf"),
        ("multilabel", lambda r: r.update(model={"preset": "ridge"}), "model.preset ridge predicts numbers"),
        ("multilabel", lambda r: r["strategy"].update(name="margin"), "strategy margin is not a strategy for labels"),
        ("multilabel", lambda r: r["strategy"].update(name="igs"), "igs is not a strategy for labels.kind multi: use"),
        ("diabetes", lambda r: r.update(auto_label={}), "auto_label is not supported for labels.kind number yet"),
    ],
)
def test_a_setting_that_does_not_fit_the_kind_is_one_line(tmp_path, dataset, change, message):
    with pytest.raises(ConfigError, match=message):
        _load(tmp_path, dataset, change)


@pytest.mark.slow
@pytest.mark.parametrize("kind_file", [("multilabel", "label_studio"), ("friedman", "jsonl")], indirect=True)
def test_a_stream_round_of_tags_or_numbers_screens_arrivals_by_the_models_uncertainty(kind_file):
    from alflow.intake.ingest import ingest_campaign

    config, folder = load_campaign(kind_file), kind_file.parent
    seed = set(pd.read_csv(config.seed_labels.uri, dtype=str)["id"])
    pool = pd.read_csv(config.pool.uri, dtype={"id": str})
    pool = pool[~pool["id"].isin(seed)]
    (folder / "arrivals").mkdir()
    pool.iloc[:150].to_csv(folder / "arrivals" / "day-1.csv", index=False)
    pool.iloc[150:300].to_csv(folder / "arrivals" / "day-2.csv", index=False)
    report = plain_round(kind_file, arrivals=str(folder / "arrivals"), target_rate=0.1)
    assert report.status == "exported", report.message()
    record = campaign_state(config).rounds[1]
    assert record.stream.files == ["day-1.csv", "day-2.csv"] and record.stream.seen == 300
    assert 0 < record.stream.asked == len(record.batch_ids) <= 40  # within the budget the seed labels left
    kind = config.label_kind
    spelled = LabelKind(kind.kind, kind.classes, kind.allow_empty)  # a guess may fall outside a number's bounds
    assert all(spelled.parse(p)[0] == p for p in record.batch.predicted)  # the model's label, in its spelling
    assert all(0 <= s <= 1 for s in record.batch.scores)
    answers = dict(pd.read_csv(folder / "data" / "answers.csv", dtype=str).itertuples(index=False))
    vendor_for(config, folder / "data" / "answers.csv").deliver(1, fmt=config.vendor.format)
    assert ingest_campaign(config).ingested[1] == {i: answers[i] for i in record.batch_ids}


# --- `alflow round` and `alflow status` with a vendor playing by hand, in csv and jsonl -------------------------


def _hand_delivery(config, fmt: str, answers: dict[str, str], round_: int) -> tuple[bytes, str]:
    """The batch's labels as a person would type them in `fmt`, the first item's label broken."""
    import json

    from alflow.exchange import formats, layout
    from alflow.exchange.bucket import open_store

    store = open_store(config.vendor.bucket)
    spec = formats.get(fmt)
    ids = spec.batch_ids(store.read(layout.batch_prefix(config.campaign, round_) + spec.batch_file))
    kind = config.label_kind
    bad = "weather" if kind.kind == "multi" else "n/a"

    def value(text: str):
        if fmt == "csv":
            return text.replace(";", " ; ")  # spaces a person leaves: the same label
        return (
            list(reversed(text.split(";")))
            if kind.kind == "multi" and text != "[]"
            else ([] if text == "[]" else float(text))
        )

    rows = [(i, bad if n == 0 else value(answers[i])) for n, i in enumerate(ids)]
    if fmt == "csv":
        body = "id,label\n" + "".join(f'{i},"{v}"\n' for i, v in rows)
    else:
        body = "".join(json.dumps({"id": i, "label": v}) + "\n" for i, v in rows)
    return body.encode(), ids[0]


@pytest.mark.usefixtures("prefect_server")
@pytest.mark.parametrize(
    "kind_file",
    [("multilabel", "csv"), ("multilabel", "jsonl"), ("friedman", "csv"), ("diabetes", "jsonl")],
    indirect=True,
)
def test_alflow_round_with_a_vendor_by_hand_takes_every_good_label_once_and_refuses_the_bad_one(kind_file):
    import json

    from typer.testing import CliRunner

    from cli import app

    from helpers import deliver_files

    runner = CliRunner()
    config = load_campaign(kind_file)
    fmt = config.vendor.format
    first = runner.invoke(app, ["round", str(kind_file)])
    assert first.exit_code == 0, first.output
    answers = dict(pd.read_csv(kind_file.parent / "data" / "answers.csv", dtype=str).itertuples(index=False))
    body, broken = _hand_delivery(config, fmt, answers, 1)
    deliver_files(config, {f"labels.{fmt}": body})
    second = runner.invoke(app, ["round", str(kind_file), "--json"])
    assert second.exit_code == 0, second.output
    report = json.loads(second.stdout)
    assert (report["status"], report["labels_ingested"], report["rows_rejected"]) == ("waiting", 19, 1)
    state = campaign_state(config)
    reason = "tag_not_in_class_set" if config.labels.kind == "multi" else "not_a_number"
    [record] = state.ingests[1]
    assert [(r.id, r.reason) for r in record.rejected] == [(broken, reason)]
    expected = {i: config.label_kind.parse(answers[i])[0] for i in state.rounds[1].batch.ids}
    assert state.ingested[1] == {i: v for i, v in expected.items() if i != broken}  # each once, one spelling
    assert state.missing(1) == [broken]

    # the vendor sends the missing label in a second file (the others again, as a person would): nothing twice
    fixed = body.decode().replace(body.decode().splitlines()[1 if fmt == "csv" else 0], "", 1)
    line = (
        f'{broken},"{answers[broken]}"\n'
        if fmt == "csv"
        else json.dumps({"id": broken, "label": answers[broken]}) + "\n"
    )
    deliver_files(config, {f"fix.{fmt}": fixed + line}, done=False)
    third = runner.invoke(app, ["round", str(kind_file), "--json"])
    assert third.exit_code == 0, third.output
    report = json.loads(third.stdout)
    assert (report["status"], report["labels_used"], report["duplicates"]) == ("exported", 40, 19)
    assert campaign_state(config).ingested[1] == expected
    status = runner.invoke(app, ["status", str(kind_file), "--json"])
    main = "f1_macro" if config.labels.kind == "multi" else "r2"
    row = json.loads(status.stdout)["rounds"][1]
    assert status.exit_code == 0 and row[main] == pytest.approx(report["metrics"][main])


@pytest.mark.slow
@pytest.mark.parametrize(("dataset", "fmt", "metric"), [("friedman", "jsonl", "r2"), ("multilabel", "csv", "f1_macro")])
def test_the_demo_runs_a_campaign_of_each_kind_to_its_budget(tmp_path, dataset, fmt, metric):
    from alflow.operations.demo import run_demo

    summary = run_demo(tmp_path / "demo", run_round=plain_round, max_labels=60, batch_size=20, dataset=dataset, fmt=fmt)
    assert (summary.rounds, summary.labels_used, summary.stop_reason) == (3, 60, "budget_spent")
    assert summary.metric == metric and 0 < summary.accuracy <= 1 and 0 < summary.random_accuracy <= 1
