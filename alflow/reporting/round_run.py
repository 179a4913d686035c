"""What a round shows stakeholders in MLflow: its params, figures, tables, plots and Data Docs.

The log stage of the round (`log_round`) gathers the round's view (alflow.reporting.views),
writes its artifacts to a temporary folder and hands everything to alflow.reporting.tracking,
the one module that imports MLflow.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from alflow.config import CampaignConfig
from alflow.learning import validation
from alflow.ledger.budget import Budget
from alflow.ledger.records import RoundRecord, Tracking
from alflow.reporting import plots, tracking
from alflow.reporting.views import RoundView, round_view
from alflow.round.context import RoundContext
from alflow.round.decide import Decision
from alflow.round.train import Trained


def campaign_params(config: CampaignConfig) -> dict[str, Any]:
    """The campaign's settings as MLflow params (no URIs with credentials, no secrets)."""
    params: dict[str, Any] = {
        "strategy": config.strategy.name,
        "batch_size": config.strategy.batch_size,
        "model": config.model.preset or config.model.estimator,
        "max_labels": config.budget.max_labels,
        "stop_metric": config.stopping.metric,
        "stop_target": config.stopping.target,
        "stop_patience": config.stopping.patience,
        "stop_min_delta": config.stopping.min_delta,
        "classes": ",".join(config.classes),
        "seed": config.seed,
    }
    if config.budget.cost_per_label is not None:
        params["cost_per_label"] = f"{config.budget.cost_per_label} {config.budget.currency}"
    return params


def progress(ctx: RoundContext, decision: Decision) -> dict[str, float]:
    """The round's budget and label figures, by MLflow metric name (docs/DASHBOARDS.md)."""
    figures: dict[str, float] = {"labels_used": decision.labels_used, **decision.spent.figures()}
    figures["batch_size"] = decision.asked
    auto = decision.auto_labels
    if ctx.config.auto_label is not None:
        figures["auto_labeled"] = len(ctx.state.auto_labeled()) + len(auto.labels)
        figures["auto_labeled_round"] = len(auto.labels)
        if auto.threshold is not None:
            figures["auto_label_threshold"] = auto.threshold
    figures.update({f"labels_class_{c}": n for c, n in decision.class_counts.items()})
    return figures


def strategy_used(decision: Decision) -> dict[str, str]:
    """Which strategy chose the round's pool batch and why (`auto` decides each round), as MLflow params."""
    batch = decision.batch
    if batch is None or batch.strategy is None:
        return {}
    return {"strategy_used": batch.strategy, "strategy_reason": (batch.reason or "")[:500]}


def round_figures(config: CampaignConfig, view: RoundView, trained: Trained) -> dict[str, Figure]:
    """The round run's plots, by artifact name (see alflow.reporting.plots)."""
    history, metric = view.history, config.stopping.metric
    figures = {
        "plots/learning_curve.png": plots.learning_curve(
            history["labels_used"].tolist(),
            history[metric].tolist() if metric in history else [],
            metric=metric,
            reference=view.reference,
            target=config.stopping.target,
        ),
        "plots/class_balance.png": plots.class_balance(trained.class_counts),
    }
    # The burn-down starts at round 0 with everything the seed labels left of the budget.
    start = Budget.of(config.budget, seed_labels=int((view.labeled["origin"] == "seed").sum()))
    rounds = [0, *history["round"].tolist()]
    spend = start.cost(start.vendor_labels)
    if "spend_remaining" in history and spend is not None:
        remaining, budget, unit = history["spend_remaining"].tolist(), spend, config.budget.currency
    else:
        remaining, budget, unit = history["labels_remaining"].tolist(), float(start.vendor_labels), "labels"
    figures["plots/budget_burndown.png"] = plots.budget_burndown(rounds, [budget, *remaining], budget=budget, unit=unit)
    if view.confusion is not None:
        figures["plots/confusion_matrix.png"] = plots.confusion_matrix(
            view.confusion.to_numpy(), list(view.confusion.columns)
        )
    return figures


def write_round_artifacts(config: CampaignConfig, view: RoundView, trained: Trained, folder: Path) -> tuple[str, ...]:
    """Write the round run's artifacts under `folder`; returns the paths that are tables.

    tables/query_batch.json, tables/labeled_set.json, tables/auto_labels.json (MLflow tables),
    plots/*.png (alflow.reporting.plots), validation/labeled_set.json (the GX result) and
    validation/data_docs/ (its rendered Data Docs).
    """
    tables = {"tables/labeled_set.json": view.labeled}
    if view.batch is not None:
        tables["tables/query_batch.json"] = view.batch[["id", "score", "predicted"]]
    if view.auto_labels is not None:
        tables["tables/auto_labels.json"] = view.auto_labels
    for name, frame in tables.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        frame.to_json(folder / name, orient="split", index=False)
    (folder / "plots").mkdir()
    for name, figure in round_figures(config, view, trained).items():
        figure.savefig(folder / name)
    docs = folder / "validation" / "data_docs"
    docs.mkdir(parents=True)
    report = validation.document_labels(
        view.labeled, id_column="id", label_column="label", classes=config.classes, folder=str(docs)
    )
    (folder / "validation" / "labeled_set.json").write_text(json.dumps(report, indent=2, default=str))
    return tuple(sorted(tables))


def log_round(ctx: RoundContext, trained: Trained, decision: Decision) -> Tracking:
    """Log a decided round to MLflow: curves, model, tables, plots, validation (alflow.reporting.tracking)."""
    config = ctx.config
    params = campaign_params(config)
    parent = tracking.campaign_run(
        config.tracking.uri, experiment=config.experiment, campaign=config.campaign, params=params
    )
    view = round_view(ctx, trained, decision)
    with tempfile.TemporaryDirectory(prefix="alflow-round-") as staging:
        entry = tracking.RoundLog(
            round=decision.round,
            model=trained.model if trained.fitted else None,
            X_example=trained.X.head(5),
            metrics=decision.evaluation.metrics,
            progress={**progress(ctx, decision), **view.vendor},
            params={**params, "metric_source": decision.evaluation.source, **strategy_used(decision)},
            registered_model=config.campaign,
            model_tags={
                "alflow.round": str(decision.round),
                "labels_used": str(decision.labels_used),
                "strategy": config.strategy.name,
            },
            promote=decision.promote,
            stop_reason=decision.stop_reason,
            artifacts=staging,
            tables=write_round_artifacts(config, view, trained, Path(staging)),
            dataset=(
                view.labeled,
                f"{config.vendor.bucket}/{config.campaign}/ledger",
                f"labeled-set-round-{decision.round:04d}",
            ),
        )
        return tracking.log_round(config.tracking.uri, parent_run_id=parent, entry=entry)


def round_markdown(config: CampaignConfig, record: RoundRecord) -> str:
    """A Prefect artifact's text: the round's result, its model version and a link to its MLflow run."""
    tracked = record.tracking
    scores = ", ".join(f"{k} **{v:.3f}**" for k, v in record.metrics.items() if not math.isnan(v))
    lines = [
        f"# {config.campaign}: round {record.round}",
        "",
        f"- labels used: **{record.labels_used}** of {config.budget.max_labels}",
        f"- holdout metrics: {scores or 'none yet'} ({record.metric_source})",
        f"- strategy: {record.strategy}; next batch: {len(record.batch_ids)} items",
        f"- model: `models:/{config.campaign}/{tracked.model_version or '?'}` "
        f"(aliases: `models:/{config.campaign}@champion`, `@challenger`)",
    ]
    if record.stop_reason:
        lines.append(f"- campaign stopped: **{record.stop_reason}**")
    if tracked.run_url:
        lines.append(f"- MLflow run: [{tracked.run_id}]({tracked.run_url})")
        if not config.tracking.uri.startswith(("http://", "https://")):
            lines.append(f"  (open it with `mlflow ui --backend-store-uri {config.tracking.uri}`)")
    return "\n".join(lines) + "\n"
