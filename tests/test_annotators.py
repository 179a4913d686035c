"""Imperfect annotators: the spec file, the draws, Dawid-Skene with quality, and `alflow simulate
--annotators` replaying a campaign whose vendor errs (issue 22)."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from alflow.config import load_campaign
from alflow.errors import ConfigError
from alflow.intake.quality import dawid_skene_em, vote_posterior, wilson
from alflow.operations.annotators import Annotator, draw_annotations, estimate_annotators, load_annotators
from alflow.operations.demo import write_demo_data
from alflow.operations.noisy import noisy_curve, simulate_with_annotators
from alflow.operations.simulate import learning_curve, load_problem
from cli import app

from helpers import snapshot

runner = CliRunner()
DIGITS = tuple(str(d) for d in range(10))

CROWD = """
annotators:
  - {name: careful, error_rate: 0.05, share: 2}
  - {name: average, error_rate: 0.2}
  - name: rushed
    error_rate: 0.4
    error_rates: {"1": 0.0}
    confusions: {"3": {"8": 1}, "8": {"3": 3, "5": 1}}
"""


@pytest.fixture
def labeled_campaign(tmp_path, mlflow_template):
    """The digits demo campaign (budget 50, batches of 10) whose pool also holds the answers."""
    shutil.copy(mlflow_template, tmp_path / "mlflow.db")
    path = write_demo_data(tmp_path, bucket=None, max_labels=50, batch_size=10)
    pool = pd.read_csv(tmp_path / "data" / "pool.csv", dtype={"id": str})
    answers = pd.read_csv(tmp_path / "data" / "answers.csv", dtype=str).rename(columns={"label": "truth"})
    pool.merge(answers, on="id").to_csv(tmp_path / "data" / "pool.csv", index=False)
    (tmp_path / "crowd.yaml").write_text(CROWD)
    return path


# --- the spec ---------------------------------------------------------------------------------


def test_a_spec_sets_error_rates_confusions_and_shares(tmp_path):
    (tmp_path / "crowd.yaml").write_text(CROWD)
    careful, average, rushed = load_annotators(tmp_path / "crowd.yaml", DIGITS)
    assert (careful.name, careful.share, average.share) == ("careful", 2.0, 1.0)
    for a in (careful, average, rushed):
        assert np.allclose(a.confusion.sum(axis=1), 1.0)
    assert careful.confusion[0, 0] == pytest.approx(0.95)
    assert careful.confusion[0, 1] == pytest.approx(0.05 / 9)
    assert rushed.confusion[1, 1] == 1.0  # per-class rate
    assert rushed.confusion[3, 8] == pytest.approx(0.4) and rushed.confusion[3, 5] == 0.0
    assert rushed.confusion[8, 3] == pytest.approx(0.3) and rushed.confusion[8, 5] == pytest.approx(0.1)
    assert rushed.accuracy == pytest.approx((9 * 0.6 + 1.0) / 10)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("annotators: []", "'annotators' must be a list of 1 to 10 entries"),
        ("annotators: [{error_rate: 1.0}]", "annotator 1: error_rate=1.0 must be a number in [0, 1)"),
        ("annotators: [{error_rate: 0.1, speed: 3}]", "annotator 1: unknown keys ['speed']"),
        ("annotators: [{error_rate: 0.1, share: 0}]", "share=0 must be a number > 0"),
        ("annotators: [{error_rates: {'11': 0.2}}]", "class '11' is not in the campaign's classes"),
        ("annotators: [{error_rate: 0.2, confusions: {'3': {'3': 1}}}]", "of a class other than '3'"),
        ("annotators: [{error_rate: 0.2, confusions: {'3': {'8': 0}}}]", "the weights add up to 0"),
        ("annotators: [{name: a, error_rate: 0.1}, {name: a}]", "two annotators share a name"),
        ("people: 3", "expected a mapping with 'annotators'"),
        ("annotators: [", "cannot be read"),
    ],
    ids=["empty", "rate", "key", "share", "class", "self", "zero", "names", "shape", "yaml"],
)
def test_a_bad_spec_is_one_line_naming_the_entry(tmp_path, text, message):
    (tmp_path / "crowd.yaml").write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_annotators(tmp_path / "crowd.yaml", DIGITS)
    assert message in str(raised.value)
    assert len(str(raised.value).splitlines()) == 1


def test_annotators_estimated_from_their_answers_on_gold():
    rng = np.random.default_rng(0)
    answer = rng.choice(["a", "b", "c"], size=600)
    flip = {"a": "b", "b": "c", "c": "a"}
    good = answer[:300]
    bad = answer[300:]
    bad_said = np.where(rng.random(300) < 0.5, [flip[x] for x in bad], bad)
    gold = pd.DataFrame(
        {
            "annotator": ["good"] * 300 + ["bad"] * 300,
            "label": list(good) + list(bad_said),
            "answer": list(answer),
        }
    )
    bad_a, good_a = estimate_annotators(gold, ("a", "b", "c"))  # sorted by name
    assert (bad_a.name, good_a.name) == ("bad", "good")
    assert good_a.accuracy > 0.99
    assert bad_a.accuracy == pytest.approx(0.5, abs=0.07)
    assert bad_a.confusion[0, 1] > 0.3 and bad_a.confusion[0, 2] < 0.01  # a is mistaken for b, not c
    with pytest.raises(ConfigError, match=r"labels outside the campaign's classes: \['z'\]"):
        estimate_annotators(gold.assign(label="z"), ("a", "b", "c"))


def test_a_spec_from_gold_reads_the_csv_beside_it(tmp_path):
    pd.DataFrame({"annotator": ["x", "x", "y"], "label": ["1", "2", "1"], "answer": ["1", "1", "1"]}).to_csv(
        tmp_path / "gold.csv", index=False
    )
    (tmp_path / "crowd.yaml").write_text("from_gold: gold.csv\n")
    x, y = load_annotators(tmp_path / "crowd.yaml", DIGITS)
    assert (x.name, x.share, y.share) == ("x", 2.0, 1.0)
    assert x.confusion[1, 2] > x.confusion[1, 3]  # its one miss on 1 was a 2


# --- the draws --------------------------------------------------------------------------------


def test_draws_follow_the_spec_and_the_seed(tmp_path):
    (tmp_path / "crowd.yaml").write_text(CROWD)
    crowd = load_annotators(tmp_path / "crowd.yaml", DIGITS)
    truth = np.random.default_rng(1).integers(0, 10, size=20_000)
    drawn = draw_annotations(crowd, truth, rng=np.random.default_rng(7))
    again = draw_annotations(crowd, truth, rng=np.random.default_rng(7))
    assert np.array_equal(drawn.who, again.who) and np.array_equal(drawn.said, again.said)
    assert (np.sort(drawn.who, axis=1) == np.arange(3)).all()  # each annotator at most once per item
    first = np.bincount(drawn.who[:, 0], minlength=3) / truth.size
    assert first == pytest.approx([0.5, 0.25, 0.25], abs=0.02)  # shares 2:1:1
    right = drawn.said == truth[:, None]
    for n, a in enumerate(crowd):
        assert right[drawn.who == n].mean() == pytest.approx(a.accuracy, abs=0.015)
    rushed_on_3 = drawn.said[(drawn.who == 2) & (truth[:, None] == 3)]
    assert set(np.unique(rushed_on_3)) == {3, 8}


# --- Dawid-Skene with quality -----------------------------------------------------------------


def test_dawid_skene_outvotes_a_bad_majority_and_ranks_annotators():
    """Two annotators who say 0 whatever the truth against one who is always right: after enough
    overlap the careful one's votes win, which a majority never lets happen."""
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 2, size=200)
    truth[:20] = 0  # items where everyone agrees on 0 anchor the lazy ones' confusion
    items = np.repeat(np.arange(200), 3)
    who = np.tile([0, 1, 2], 200)
    said = np.where(who == 0, truth[items], np.where(rng.random(600) < 0.2, truth[items], 0))
    quality = dawid_skene_em(items, who, said, shape=(200, 3, 2), prior=np.ones((2, 2)))
    majority = (np.bincount(items, weights=said) >= 2).astype(int)
    assert (majority != truth).sum() > 50
    assert (quality.posterior.argmax(axis=1) == truth).mean() > 0.97
    # the careful one ranks first (soft posteriors keep both estimates short of the truth: 1.0 and 0.64)
    assert quality.accuracy[0] > 0.85 and quality.accuracy[0] > max(quality.accuracy[1:]) + 0.1


def test_dawid_skene_with_a_model_prior_tells_annotators_apart_on_single_votes():
    rng = np.random.default_rng(4)
    truth = rng.integers(0, 4, size=400)
    who = np.arange(400) % 2  # one vote per item, two annotators, no overlap at all
    said = np.where((who == 1) & (rng.random(400) < 0.5), (truth + 1) % 4, truth)
    model = np.full((400, 4), 0.1)
    model[np.arange(400), truth] = 0.7  # a model right with 70 % of its mass
    plain = dawid_skene_em(np.arange(400), who, said, shape=(400, 2, 4))
    assert plain.accuracy[0] == pytest.approx(plain.accuracy[1], abs=0.01)  # no evidence: the prior
    informed = dawid_skene_em(np.arange(400), who, said, shape=(400, 2, 4), item_prior=model)
    assert informed.accuracy[0] > 0.85 and informed.accuracy[1] < 0.65
    empty = dawid_skene_em(
        np.array([], int), np.array([], int), np.array([], int), shape=(3, 2, 4), item_prior=model[:3]
    )
    assert np.allclose(empty.posterior, model[:3] / model[:3].sum(axis=1, keepdims=True))


@pytest.mark.parametrize(
    ("successes", "trials", "low", "high"),
    [(8, 10, 0.4902, 0.9433), (0, 10, 0.0, 0.2775), (10, 10, 0.7225, 1.0), (50, 100, 0.4038, 0.5962), (0, 0, 0.0, 1.0)],
)
def test_wilson_interval(successes, trials, low, high):
    assert wilson(successes, trials) == pytest.approx((low, high), abs=1e-4)


# --- the replays ------------------------------------------------------------------------------


def _crowd(rate: float) -> tuple[Annotator, ...]:
    confusion = np.full((10, 10), rate / 9)
    np.fill_diagonal(confusion, 1 - rate)
    return tuple(Annotator(f"a{n}", confusion) for n in range(3))


def test_the_perfect_plan_is_the_oracle_replay_and_plans_spend_the_budget(labeled_campaign):
    config = load_campaign(labeled_campaign)
    problem = load_problem(config, answers="truth", seed=0)
    truth = np.array([DIGITS.index(y) for y in problem.y_pool])
    drawn = draw_annotations(_crowd(0.3), truth, rng=np.random.default_rng(0))
    oracle = learning_curve(config, problem, strategy="margin", seed=0)
    perfect = noisy_curve(config, problem, drawn, strategy="margin", plan="perfect", seed=0)
    assert perfect.replay.curve == oracle.curve
    once = noisy_curve(config, problem, drawn, strategy="margin", plan="once", seed=0)
    assert [n for n, _ in once.replay.curve] == [20, 30, 40, 50]
    assert once.replay.curve != oracle.curve  # 30 % wrong labels change the model
    repeat3 = noisy_curve(config, problem, drawn, strategy="margin", plan="repeat3", seed=0)
    assert [n for n, _ in repeat3.replay.curve] == [20, 29, 38, 47, 50]
    adaptive = noisy_curve(config, problem, drawn, strategy="margin", plan="adaptive", seed=0)
    again = noisy_curve(config, problem, drawn, strategy="margin", plan="adaptive", seed=0)
    assert adaptive.replay.curve == again.replay.curve and adaptive.repeats == again.repeats
    assert adaptive.replay.curve[-1][0] == 50 and adaptive.repeats > 0
    assert adaptive.estimated is not None and adaptive.estimated.shape == (3,)


def test_a_worse_vendor_costs_accuracy_at_the_same_money(labeled_campaign):
    config = load_campaign(labeled_campaign)
    result = simulate_with_annotators(
        config, _crowd(0.45), answers="truth", strategies=["margin"], seeds=2, plans=["perfect", "once"]
    )
    rows = {r["strategy"]: r for r in result.table}
    assert set(rows) == {"margin/perfect", "margin/once", "random"}
    assert rows["margin/perfect"]["final"] > rows["margin/once"]["final"] + 0.05
    assert [a["name"] for a in result.annotators] == ["a0", "a1", "a2"]
    assert all(a["on_pool"] == pytest.approx(0.55, abs=0.05) for a in result.annotators)
    with pytest.raises(ConfigError, match="--labeling: unknown \\['twice'\\]"):
        simulate_with_annotators(config, _crowd(0.1), answers="truth", strategies=["margin"], seeds=1, plans=["twice"])


# --- the command ------------------------------------------------------------------------------


def test_simulate_with_annotators_writes_plans_annotators_and_an_mlflow_run(labeled_campaign, tmp_path):
    arguments = ["--strategies", "margin", "--seeds", "1", "--labeling", "once,adaptive", "--json"]
    result = runner.invoke(
        app,
        [
            "simulate",
            str(labeled_campaign),
            "--answers",
            "truth",
            "--annotators",
            str(tmp_path / "crowd.yaml"),
            *arguments,
        ],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert {r["strategy"] for r in payload["table"]} == {"margin/once", "margin/adaptive", "random"}
    assert [a["name"] for a in payload["annotators"]] == ["careful", "average", "rushed"]
    assert set(payload["plans"]) == {"once", "adaptive"}
    written = json.loads((tmp_path / "simulation" / "curves.json").read_text())
    assert [p["labels"] for p in written["curves"]["margin/once"]] == [20, 30, 40, 50]
    table = (tmp_path / "simulation" / "table.md").read_text()
    assert "| annotator | share | accuracy (set) |" in table and "| careful | 0.50 | 0.950 |" in table
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("digits-demo")
    (run,) = client.search_runs([experiment.experiment_id], "tags.`alflow.kind` = 'simulation'")
    assert run.data.params["labeling"] == "once,adaptive"
    assert "accuracy_margin/adaptive" in run.data.metrics


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--labeling", "once"], "--labeling needs --annotators"),
        (["--annotators", "crowd.yaml", "--labeling", "twice"], "--labeling: unknown ['twice']"),
        (["--annotators", "missing.yaml"], "cannot be read"),
    ],
    ids=["no-annotators", "plan", "file"],
)
def test_simulate_with_bad_annotator_options_says_one_line_and_writes_nothing(
    labeled_campaign, tmp_path, extra, message
):
    extra = [str(tmp_path / e) if e.endswith(".yaml") else e for e in extra]
    before = snapshot(tmp_path)
    result = runner.invoke(app, ["simulate", str(labeled_campaign), "--answers", "truth", "--seeds", "1", *extra])
    assert result.exit_code == 1
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert snapshot(tmp_path) == before


def test_vote_posterior_weighs_each_vote_by_its_annotators_confusion():
    good = np.array([[0.95, 0.05], [0.05, 0.95]])
    poor = np.array([[0.6, 0.4], [0.4, 0.6]])
    confusion = np.stack([good, poor])
    # item 0: one vote of the poor annotator; item 1: good says 1, poor says 0
    posterior = vote_posterior(np.array([0, 1, 1]), np.array([1, 0, 1]), np.array([0, 1, 0]), confusion, 2)
    assert posterior[0] == pytest.approx([0.6, 0.4])
    assert posterior[1].argmax() == 1 and posterior[1][1] == pytest.approx(0.95 * 0.4 / (0.95 * 0.4 + 0.05 * 0.6))


def test_the_adaptive_label_is_the_consensus_of_the_votes_and_the_models_view():
    from alflow.operations.annotators import Annotations
    from alflow.operations.noisy import _labels

    # three items, two annotators: item 0 has one vote (class 0) the model doubts; item 2 two votes
    annotations = Annotations(who=np.array([[0, 1]] * 3), said=np.array([[0, 1], [1, 1], [0, 0]]))
    asked, seeded, truth = np.array([1, 1, 2]), np.zeros(3, dtype=bool), np.array([1, 1, 0])
    alone, _ = _labels("adaptive", truth, annotations, asked, seeded, 2)
    assert alone.tolist() == [0, 1, 0]  # the model's first fit: the votes alone
    prior = np.array([[0.02, 0.98], [0.5, 0.5], [0.5, 0.5]])  # its out-of-fold view: item 0 is surely 1
    consensus, posterior = _labels("adaptive", truth, annotations, asked, seeded, 2, prior)
    assert consensus.tolist() == [1, 1, 0] and posterior is not None and posterior[0, 1] > 0.9
    assert _labels("once", truth, annotations, asked, seeded, 2, prior)[0].tolist() == [0, 1, 0]  # trusted as it came
