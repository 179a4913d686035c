"""The markdown MLflow shows as descriptions: the experiment's, the campaign run's, a round run's,
a model version's. Each answers the stakeholder's questions in the words of `Outlook`."""

from __future__ import annotations

import math

from alflow.config import CampaignConfig
from alflow.ledger.budget import amount
from alflow.ledger.records import RoundRecord
from alflow.reporting import dashboard
from alflow.reporting.outlook import STOP_REASONS, Outlook, money


def stop_rules(config: CampaignConfig) -> str:
    """The stopping rules in words, in their order of precedence."""
    rules, stop = ["the budget is spent"], config.stopping
    if stop.target is not None:
        rules.append(f"{stop.metric} reaches {stop.target:g}")
    if stop.patience is not None:
        rules.append(f"{stop.metric} does not improve for {stop.patience} rounds")
    if (stable := stop.stable_predictions) is not None:
        rules.append(
            f"successive models agree on the {stable.stop_set}-item stop set "
            f"(mean kappa of {stable.rounds} comparisons >= {stable.kappa:g})"
        )
    rules.append("the pool runs out")
    return "; ".join(rules)


def _model(config: CampaignConfig) -> str:
    return config.model.preset or config.model.estimator or "?"


def budget_text(config: CampaignConfig, seed_labels: int) -> str:
    """'200 labels: 20 seed labels (free) + 180 from the vendor at 0.08 USD = 14.40 USD'."""
    budget = config.budget
    vendor = max(0, budget.max_labels - seed_labels)
    text = f"{budget.max_labels} labels: {seed_labels} seed labels (free) + {vendor} from the vendor"
    if budget.cost_per_label is not None:
        total = money(amount(vendor, budget.cost_per_label), budget.currency)
        text += f" at {money(budget.cost_per_label, budget.currency)} = {total}"
    return text


def experiment_description(config: CampaignConfig, seed_labels: int) -> str:
    goal: str = config.stopping.metric
    if config.stopping.target is not None:
        goal += f" {config.stopping.target:g} on the holdout" if config.holdout else f" {config.stopping.target:g}"
    return "\n".join(
        [
            f"**{config.campaign}**: an active-learning campaign run by alflow.",
            "",
            f"- **Goal**: {goal}",
            f"- **Budget**: {budget_text(config, seed_labels)}",
            f"- **Model**: {_model(config)}; **strategy**: {config.strategy.name}, "
            f"{config.strategy.batch_size} items per round",
            f"- **Stops when** {stop_rules(config)}",
            "",
            f"The run **{config.campaign}** is the campaign's dashboard: its description says where the campaign "
            "stands and when it will end; expand it for one run per round. Charts are grouped by section: "
            "`model/` (how good), `budget/` (labels and spend), `forecast/`, `vendor/`, `labels_per_class/`. "
            f"Registered model: **{config.campaign}** (`@champion` is the best round, `@challenger` the latest).",
        ]
    )


def _status(outlook: Outlook, batch: int) -> str:
    if outlook.stop_reason:
        return f"**stopped**: {STOP_REASONS.get(outlook.stop_reason, outlook.stop_reason)}"
    return f"round {outlook.round} asked the vendor for {batch} labels" if batch else "asked for no labels this round"


def campaign_description(config: CampaignConfig, outlook: Outlook, *, batch: int, source: str) -> str:
    """The campaign run's description after a round: a table of the four answers, the first rows
    the ones MLflow shows before "Show more"."""
    value = "no score yet (one class labeled)" if math.isnan(outlook.value) else f"**{outlook.value:.3f}**"
    spend = outlook.spend_text() or "no cost per label set (`budget.cost_per_label`)"
    rows = [
        ("How good", f"{outlook.metric} {value} ({source}) after round {outlook.round}"),
        ("Labels and spend", f"{outlook.labels_text()}; {spend}"),
        ("When it ends", outlook.forecast_text() or _no_forecast(outlook)),
        ("Status", _status(outlook, batch)),
        ("Stops when", stop_rules(config)),
        ("Budget", budget_text(config, outlook.budget.seed_labels)),
    ]
    (head, first), rest = rows[0], rows[1:]
    lines = [f"| {head} | {first} |", "|---|---|", *(f"| **{k}** | {v} |" for k, v in rest)]
    return "\n".join(lines)


def _no_forecast(outlook: Outlook) -> str:
    if outlook.stop_reason:
        return f"ended in round {outlook.round}"
    return "forecast after 4 rounds with a score"


def round_description(config: CampaignConfig, outlook: Outlook, *, batch: int, source: str) -> str:
    value = "no score" if math.isnan(outlook.value) else f"{outlook.value:.3f}"
    parts = [
        f"Round {outlook.round} of {config.campaign}: {outlook.metric} {value} ({source}) with {outlook.labels_text()}"
    ]
    if spend := outlook.spend_text():
        parts.append(spend)
    parts.append(_status(outlook, batch))
    if forecast := outlook.forecast_text():
        parts.append(f"forecast: {forecast}")
    return ". ".join(parts) + "."


def model_description(config: CampaignConfig, outlook: Outlook, *, source: str) -> str:
    return (
        f"Round {outlook.round} of campaign {config.campaign}: {outlook.metric} **{outlook.value:.3f}** ({source}), "
        f"trained on {outlook.labels_used} labels with {_model(config)}; batches chosen by {config.strategy.name}."
    )


def round_markdown(config: CampaignConfig, record: RoundRecord, seen: Outlook) -> str:
    """A Prefect artifact's text: the four answers after the round, its model version and links to
    MLflow (the campaign's runs table and the round's run)."""
    tracked = record.tracking
    scores = ", ".join(f"{k} **{v:.3f}**" for k, v in record.metrics.items() if not math.isnan(v))
    lines = [
        f"# {config.campaign}: round {record.round}",
        "",
        f"- how good: {scores or 'no score yet'} ({record.metric_source})",
        f"- labels used: **{record.labels_used}** of {config.budget.max_labels} "
        f"({seen.budget.seed_labels} seed, {seen.budget.asked} asked, {seen.budget.left} left)",
        f"- spend: {seen.spend_text() or 'no cost per label set'}",
        f"- when it ends: {_when(seen)}",
        f"- strategy: {record.strategy}; next batch: {len(record.batch_ids)} items",
        f"- model: `models:/{config.campaign}/{tracked.model_version or '?'}` "
        f"(aliases: `models:/{config.campaign}@champion`, `@challenger`)",
    ]
    if tracked.model_version:
        lines[-1] += f"; [its page]({dashboard.model_url(config.tracking.uri, config.campaign, tracked.model_version)})"
    if tracked.run_url and tracked.experiment_id:
        experiment = dashboard.experiment_url(config.tracking.uri, tracked.experiment_id)
        lines.append(f"- MLflow: [the campaign's runs]({experiment}), [this round's run]({tracked.run_url})")
        if command := dashboard.ui_command(config.tracking.uri):
            lines.append(f"  (open them with `{command}`)")
    return "\n".join(lines) + "\n"


def _when(seen: Outlook) -> str:
    if seen.stop_reason:
        return f"**stopped**: {STOP_REASONS.get(seen.stop_reason, seen.stop_reason)}"
    return seen.forecast_text() or _no_forecast(seen)
