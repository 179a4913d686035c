"""The forecast on synthetic learning curves whose limit and crossing are known, and the outlook
that every surface shows."""

import math
from dataclasses import replace

import numpy as np
import pytest

from alflow.ledger.budget import Budget
from alflow.reporting.forecast import (
    MIN_POINTS,
    Curve,
    calibrate,
    fit_learning_curve,
    forecast_campaign,
    misses,
    on_grid,
)
from alflow.reporting.outlook import outlook

LABELS = np.arange(20, 201, 20)


def truth(n, limit=0.95, scale=3.0, rate=0.8):
    return limit - scale * np.asarray(n, dtype=float) ** -rate


@pytest.mark.parametrize(
    ("limit", "scale", "rate"),
    [(0.95, 3.0, 0.8), (0.8, 1.0, 0.4), (1.0, 5.0, 1.2)],
    ids=["digits-like", "slow", "fast"],
)
def test_an_exact_power_law_is_recovered(limit, scale, rate):
    fit = fit_learning_curve(LABELS, truth(LABELS, limit, scale, rate))
    assert fit.curve.limit == pytest.approx(limit, abs=0.01)
    assert fit.curve.at(1000) == pytest.approx(truth(1000, limit, scale, rate), abs=0.005)


def test_too_few_rounds_give_no_forecast():
    assert fit_learning_curve(LABELS[: MIN_POINTS - 1], truth(LABELS[: MIN_POINTS - 1])) is None
    # NaN scores (cold-start rounds) do not count
    values = [math.nan, *truth(LABELS[1:MIN_POINTS])]
    assert fit_learning_curve(LABELS[:MIN_POINTS], values) is None
    assert fit_learning_curve(LABELS[: MIN_POINTS + 1], [math.nan, *truth(LABELS[1 : MIN_POINTS + 1])]) is not None


def test_the_limit_never_passes_one_and_a_flat_curve_does_not_rise():
    steep = fit_learning_curve(LABELS, np.minimum(truth(LABELS, 1.3, 10.0, 0.5), 0.999))
    assert steep.curve.limit <= 1.0 and all(c.limit <= 1.0 for c in steep.refits)
    flat = fit_learning_curve(LABELS, [0.9, 0.91, 0.89, 0.9, 0.9, 0.91, 0.89, 0.9, 0.9, 0.9])
    assert flat.curve.at(10_000) == pytest.approx(0.9, abs=0.02)
    falling = fit_learning_curve(LABELS, np.linspace(0.9, 0.8, LABELS.size))
    assert falling.curve.scale == 0.0  # more labels never forecast a worse model


def test_calibration_is_the_conformal_quantile_of_past_misses_and_never_narrows():
    # m = 10 past misses at level 0.9: the ceil(11 * 0.9) = 10th smallest, the largest here
    assert calibrate(np.array([0.2] * 9 + [3.0]), 0.9) == 3.0
    # m = 20: the 19th smallest; the one worst miss is left out
    assert calibrate(np.array([0.5] * 17 + [2.0, 2.5, 9.0]), 0.9) == 2.5
    assert calibrate(np.array([0.1, 0.3, 0.9, 0.5, 0.2]), 0.9) == 1.0  # they held: not narrowed
    assert calibrate(np.array([5.0] * (MIN_POINTS - 1)), 0.9) == 1.0  # too few to learn from
    # rounds that added no labels: the past forecasts start once there were MIN_POINTS distinct
    labels = np.array([20, 20, 20, 30, 40, 50, 60, 70, 80], dtype=float)
    above, below = misses(labels, truth(labels), seed=0)
    assert len(above) == len(below) == 3 and np.all(np.isfinite(above)) and np.all(np.isfinite(below))


def test_a_curve_that_keeps_rising_past_the_early_plateau_widens_the_interval_above():
    """A logarithmic curve (no plateau): each early power-law fit levels off too soon, so the past
    forecasts of the latest round all fell short; that side of the interval is stretched until it
    holds the score at the budget, the other side is not."""
    labels = np.arange(20, 201, 10)
    rising = 0.05 + 0.08 * np.log(labels) + np.random.default_rng(0).normal(0, 0.003, labels.size)
    above, below = misses(labels.astype(float), rising, seed=0)
    assert len(above) == labels.size - MIN_POINTS and np.median(above) > 1 and np.all(below < 0)
    fit = fit_learning_curve(labels, rising)
    assert fit.stretch[0] == 1.0 and fit.stretch[1] > 1.5
    at_budget = fit.metric_at(400, rng=np.random.default_rng(1))
    plain = replace(fit, stretch=(1.0, 1.0)).metric_at(400, rng=np.random.default_rng(1))
    truth_at_budget = 0.05 + 0.08 * np.log(400)
    assert plain.high < truth_at_budget <= at_budget.high  # without the calibration it did not hold
    assert at_budget.low == plain.low and at_budget.value == plain.value


def test_a_power_law_campaign_is_widened_little_and_only_by_its_latest_scores_noise():
    """Where the curve is a power law the past forecasts mostly held: over 8 noisy campaigns the
    median stretch is small on each side (a widening comes from the latest score's noise alone)."""
    stretches = np.array(
        [
            fit_learning_curve(LABELS, truth(LABELS) + np.random.default_rng(s).normal(0, 0.005, LABELS.size)).stretch
            for s in range(8)
        ]
    )
    assert np.all(stretches >= 1.0) and np.all(np.median(stretches, axis=0) < 1.25)


def test_labels_to_a_target_are_where_the_curve_crosses_it():
    curve = Curve(0.95, 3.0, 0.8)
    n = curve.labels_to(0.9)
    assert curve.at(n) == pytest.approx(0.9)
    assert math.isinf(curve.labels_to(0.96))  # above the limit: beyond reach


def test_noisy_curves_the_interval_holds_about_as_often_as_it_says():
    """80 % intervals of the metric at 300 labels, from the first 6 rounds of noisy curves."""
    held = []
    for seed in range(40):
        rng = np.random.default_rng(seed)
        noisy = truth(LABELS) + rng.normal(0, 0.01, LABELS.size)
        forecast = forecast_campaign(LABELS[:6], noisy[:6], metric="accuracy", max_labels=300, batch_size=20, seed=seed)
        final = truth(300) + rng.normal(0, 0.01)
        held.append(forecast.at_budget.low <= final <= forecast.at_budget.high)
    assert 0.6 <= np.mean(held) <= 0.97


def test_noisy_curves_labels_to_the_target_hold_about_as_often_as_they_say():
    """80 % intervals of the first round whose noisy score reaches the target, from 6 rounds."""
    labels = np.arange(20, 401, 20)
    held = []
    for seed in range(30):
        rng = np.random.default_rng(100 + seed)
        noisy = truth(labels) + rng.normal(0, 0.01, labels.size)
        reached = next(n for n, v in zip(labels[6:], noisy[6:], strict=True) if v >= 0.9)
        fit = fit_learning_curve(labels[:6], noisy[:6], seed=seed)
        to_target = fit.labels_to(0.9, used=120, step=20, rng=np.random.default_rng(seed))
        held.append(to_target.low <= reached <= to_target.high)
    assert np.mean(held) >= 0.7


def test_a_noisy_round_reaches_a_target_the_curve_levels_off_below():
    """A plateau at 0.9 with noise 0.01 and a target of 0.905: the curve never crosses it, but a
    round soon scores above it; the interval is the rounds where that happens, not 'never'."""
    labels = np.arange(20, 201, 20)
    noisy = 0.9 - 2.0 * labels**-1.0 + np.random.default_rng(0).normal(0, 0.01, labels.size)
    fit = fit_learning_curve(labels, noisy)
    assert fit.curve.limit < 0.905 and math.isinf(fit.curve.labels_to(0.905))
    to_target = fit.labels_to(0.905, used=200, step=20, rng=np.random.default_rng(0))
    assert 220 <= to_target.low < to_target.value < 1000  # most simulated futures get there
    assert (to_target.value - 200) % 20 == 0 and (to_target.low - 200) % 20 == 0  # a round's labels


def test_forecast_counts_labels_rounds_and_money_from_what_is_already_bought():
    values = truth(LABELS[:6])
    forecast = forecast_campaign(
        LABELS[:6],
        values,
        metric="accuracy",
        max_labels=200,
        batch_size=20,
        target=0.9,
        cost_per_label=0.5,
        committed=140,
    )
    crossing = Curve(0.95, 3.0, 0.8).labels_to(0.9)  # 60 ** 1.25, about 167 labels
    # rounds of 20 from the 120 labels used: the first round past the crossing has 180
    assert forecast.to_target.value == on_grid(crossing, used=120, step=20) == 180
    assert forecast.more_labels.value == pytest.approx(forecast.to_target.value - 140)
    assert forecast.more_rounds.value == math.ceil(forecast.more_labels.value / 20)
    assert forecast.more_spend.value == pytest.approx(forecast.more_labels.value * 0.5)
    assert forecast.target_within_budget is True  # 167 <= 200
    assert forecast.at_budget.low <= forecast.at_budget.value <= forecast.at_budget.high
    assert forecast.at_budget.value == pytest.approx(truth(200), abs=0.005)
    figures = forecast.figures()
    assert figures["forecast/labels_to_target"] == forecast.to_target.value
    assert all(name.startswith("forecast/") and math.isfinite(v) for name, v in figures.items())


def test_an_unreachable_target_says_so_and_logs_no_infinite_figure():
    forecast = forecast_campaign(LABELS, truth(LABELS), metric="accuracy", max_labels=300, batch_size=20, target=0.99)
    assert math.isinf(forecast.to_target.value)
    assert "forecast/labels_to_target" not in forecast.figures()


def test_the_same_rounds_give_the_same_forecast():
    noisy = truth(LABELS) + np.random.default_rng(0).normal(0, 0.01, LABELS.size)
    first, second = (
        forecast_campaign(LABELS, noisy, metric="accuracy", max_labels=300, batch_size=20, target=0.94)
        for _ in range(2)
    )
    assert first == second


@pytest.mark.parametrize("cost", [None, 0.08], ids=["no-cost", "cost"])
def test_outlook_words_with_and_without_a_cost_per_label(campaign, cost):
    config = campaign.model_copy(update={"budget": campaign.budget.model_copy(update={"cost_per_label": cost})})
    history = [(n, float(truth(n))) for n in (20, 30, 40, 50)]  # the fixture's budget: 60 labels, 20 seed
    budget = Budget.of(config.budget, seed_labels=20, asked=30)
    seen = outlook(config, history, round_=4, budget=budget)
    assert seen.labels_text() == "50/60 labels (20 seed, 30 asked, 10 left)"
    if cost is None:
        assert seen.spend is None and seen.spend_text() is None and seen.plain()["currency"] is None
    else:
        assert seen.spend == pytest.approx(2.4) and seen.allowed == pytest.approx(3.2)
        assert seen.spend_text() == "spent 2.40 of 3.20 USD"  # the seed labels are free
        assert seen.plain()["currency"] == "USD"
    assert seen.forecast is not None
    assert seen.forecast_text().startswith("accuracy ")
    assert "expected at the 60-label budget (80% interval" in seen.forecast_text()
    # labels to the target: a range of simulated futures' first rounds there, said as such
    aiming = config.model_copy(update={"stopping": config.stopping.model_copy(update={"target": 0.88})})
    text = outlook(aiming, history, round_=4, budget=budget).forecast_text()
    assert "target 0.88: " in text and "more labels (80% of simulated futures: " in text
    stopped = outlook(config, history, round_=4, budget=budget, stop_reason="budget_spent")
    assert stopped.forecast_text() is None  # a stopped campaign forecasts nothing
