"""What a round shows stakeholders in MLflow: its params, figures, tables, plots and Data Docs.

The log stage of the round (`log_round`) gathers the round's view (alflow.reporting.views),
writes its artifacts to a temporary folder and hands everything to alflow.reporting.tracking,
the one module that imports MLflow.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alflow import collector, kinds
from alflow.config import CampaignConfig
from alflow.data import validation
from alflow.ledger import changes
from alflow.ledger.records import Tracking
from alflow.model import estimators
from alflow.reporting import dashboard, describe, tracking
from alflow.reporting.agreement import agreement_figures
from alflow.reporting.dashboard import metric_names
from alflow.reporting.forecast import Forecast
from alflow.reporting.label_cost import time_metrics
from alflow.reporting.outlook import Outlook, outlook
from alflow.reporting.repeat_report import repeat_metrics
from alflow.reporting.review_report import review_metrics
from alflow.reporting.vendor_quality import quality_metrics, quality_table
from alflow.reporting.views import RoundView, round_view
from alflow.round.context import RoundContext
from alflow.round.decide import Decision
from alflow.round.train import Trained

if TYPE_CHECKING:
    from matplotlib.figure import Figure


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
    """The round's budget and label figures, by alflow's names (alflow.reporting.dashboard maps
    them to MLflow's grouped names, docs/DASHBOARDS.md)."""
    figures: dict[str, float] = {"labels_used": decision.labels_used, **decision.spent.figures()}
    figures["batch_size"] = decision.asked
    auto = decision.auto_labels
    if ctx.config.auto_label is not None:
        figures["auto_labeled"] = len(ctx.state.auto_labeled()) + len(auto.labels)
        figures["auto_labeled_round"] = len(auto.labels)
        if auto.threshold is not None:
            figures["auto_label_threshold"] = auto.threshold
    figures.update({f"labels_class_{c}": n for c, n in decision.class_counts.items()})
    figures.update(empty_tags(ctx.config.label_kind, ctx.labeled.values()))
    return figures


def empty_tags(kind: kinds.LabelKind, labels: Iterable[str]) -> dict[str, int]:
    """Tags allowing the empty set: the labeled items with no tag (`labels_empty_tags`); nothing otherwise.
    With the per-tag counts (`labels_class_<tag>`: items carrying the tag) they describe the labeled set."""
    if kind.kind != "multi" or not kind.allow_empty:
        return {}
    return {"labels_empty_tags": sum(text == kinds.EMPTY for text in labels)}


def strategy_used(decision: Decision) -> dict[str, str]:
    """Which strategy chose the round's pool batch and why (`auto` decides each round), as MLflow params."""
    batch = decision.batch
    if batch is None or batch.strategy is None:
        return {}
    return {"strategy_used": batch.strategy, "strategy_reason": (batch.reason or "")[:500]}


def round_figures(
    config: CampaignConfig, view: RoundView, trained: Trained, forecast: Forecast | None = None
) -> dict[str, Figure]:
    """The round run's plots, by artifact name (see alflow.reporting.plots)."""
    from alflow.reporting import plots  # matplotlib: imported by the log stage, not by a round that waits

    history, metric = view.history, config.stopping.metric
    figures = {
        "plots/learning_curve.png": plots.learning_curve(
            history["labels_used"].tolist(),
            history[metric].tolist() if metric in history else [],
            metric=metric,
            reference=view.reference,
            target=config.stopping.target,
            band=forecast.band if forecast is not None and len(forecast.band[0]) > 1 else None,
        ),
        "plots/class_balance.png": _balance(config, view, trained),
        "plots/budget_burndown.png": plots.budget_burndown(
            history["round"].tolist(),
            history["labels_remaining"].tolist(),
            max_labels=config.budget.max_labels,
            seed_labels=int((view.labeled["origin"] == "seed").sum()),
            cost_per_label=config.budget.cost_per_label,
            currency=config.budget.currency,
            first_max_labels=int(history["max_labels"].iloc[0]) if "max_labels" in history else None,
            changes=view.changes,
        ),
    }
    if view.confusion is not None:
        figures["plots/confusion_matrix.png"] = plots.confusion_matrix(
            view.confusion.to_numpy(), list(view.confusion.columns)
        )
    return {**figures, **_kind_figures(config, trained, view)}


def _balance(config: CampaignConfig, view: RoundView, trained: Trained) -> Figure:
    """Labeled items per class; for tags, items carrying each tag and (where allowed) those with none."""
    from alflow.reporting import plots

    if config.label_kind.kind != "multi":
        return plots.class_balance(trained.class_counts)
    empty = empty_tags(config.label_kind, view.labeled["label"])
    return plots.class_balance(trained.class_counts, items=len(view.labeled), empty=empty.get("labels_empty_tags"))


def _kind_figures(config: CampaignConfig, trained: Trained, view: RoundView) -> dict[str, Figure]:
    """Tags: each tag's F1 (holdout, or cross-validation); numbers: the holdout's residuals."""
    from alflow.reporting import kind_plots  # matplotlib, as in round_figures

    figures: dict[str, Figure] = {}
    scores = kind_plots.f1_by_label(trained.evaluation.metrics, config.classes)
    if config.label_kind.kind == "multi" and scores:
        source = "cross-validation" if trained.evaluation.source == "cross_validation" else "holdout"
        figures["plots/f1_by_label.png"] = kind_plots.label_f1(scores, source=source)
    if view.residuals is not None:
        figures["plots/residuals.png"] = kind_plots.residuals(
            view.residuals["true"].tolist(), view.residuals["predicted"].tolist(), unit=config.labels.unit
        )
    return figures


def write_round_artifacts(
    config: CampaignConfig, view: RoundView, trained: Trained, folder: Path, forecast: Forecast | None = None
) -> tuple[str, ...]:
    """Write the round run's artifacts under `folder`; returns the paths that are tables.

    tables/query_batch.json, tables/labeled_set.json, tables/auto_labels.json (MLflow tables),
    plots/*.png (alflow.reporting.plots), and with `tracking.data_docs` validation/labeled_set.json
    (the GX result) and validation/data_docs/ (its rendered Data Docs).
    """
    from alflow.reporting import plots  # matplotlib, as in round_figures

    tables = {"tables/labeled_set.json": view.labeled}
    if view.batch is not None:
        tables["tables/query_batch.json"] = view.batch[["id", "score", "predicted"]]
    if view.auto_labels is not None:
        tables["tables/auto_labels.json"] = view.auto_labels
    for name, frame in tables.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        frame.to_json(folder / name, orient="split", index=False)
    (folder / "plots").mkdir()
    for name, figure in round_figures(config, view, trained, forecast).items():
        plots.save_png(figure, folder / name)
    if config.tracking.data_docs:
        write_data_docs(config, view, folder)
    return tuple(sorted(tables))


def write_data_docs(config: CampaignConfig, view: RoundView, folder: Path) -> None:
    """validation/labeled_set.json (the GX result) and validation/data_docs/ (its rendered Data Docs):
    only when `tracking.data_docs` asks for them, as rendering them imports Great Expectations."""
    docs = folder / "validation" / "data_docs"
    docs.mkdir(parents=True)
    report = validation.document_labels(
        view.labeled,
        id_column="id",
        label_column="label",
        classes=config.classes,
        folder=str(docs),
        kind=config.label_kind,
    )
    (folder / "validation" / "labeled_set.json").write_text(json.dumps(report, indent=2, default=str))


def write_quality_table(ctx: RoundContext, folder: Path) -> tuple[str, ...]:
    """tables/annotators.json: each annotator's accuracy, on gold or estimated (none without evidence)."""
    table = quality_table(ctx.state)
    if table is None:
        return ()
    (folder / "tables").mkdir(exist_ok=True)
    table.to_json(folder / "tables" / "annotators.json", orient="split", index=False)
    return ("tables/annotators.json",)


def round_outlook(ctx: RoundContext, view: RoundView, decision: Decision) -> Outlook:
    """Where the campaign stands after this round, from the round view's history."""
    metric = ctx.config.stopping.metric
    column = view.history[metric] if metric in view.history else [math.nan] * len(view.history)
    history = list(zip(view.history["labels_used"].astype(int), column, strict=True))
    return outlook(ctx.config, history, round_=decision.round, budget=decision.spent, stop_reason=decision.stop_reason)


def descriptions(ctx: RoundContext, decision: Decision, seen: Outlook) -> tracking.Descriptions:
    config, source = ctx.config, decision.evaluation.source
    return tracking.Descriptions(
        experiment=describe.experiment_description(config, seen.budget.seed_labels),
        campaign=describe.campaign_description(config, seen, batch=decision.asked, source=source),
        round=describe.round_description(config, seen, batch=decision.asked, source=source),
        model=describe.model_description(config, seen, source=source),
    )


def log_round(ctx: RoundContext, trained: Trained, decision: Decision) -> Tracking:
    """Log a decided round to MLflow: curves, model, tables, plots, validation (alflow.reporting.tracking).
    The garbage collector is paused meanwhile (alflow.collector: the stage's first-use imports)."""
    with collector.paused():
        return _log_round(ctx, trained, decision)


def _log_round(ctx: RoundContext, trained: Trained, decision: Decision) -> Tracking:
    config = ctx.config
    params = campaign_params(config)
    parent = tracking.campaign_run(
        config.tracking.uri, experiment=config.experiment, campaign=config.campaign, params=params
    )
    view = round_view(ctx, trained, decision)
    seen = round_outlook(ctx, view, decision)
    metrics = decision.evaluation.metrics
    with tempfile.TemporaryDirectory(prefix="alflow-round-") as staging:
        tables = write_round_artifacts(config, view, trained, Path(staging), seen.forecast)
        tables += write_quality_table(ctx, Path(staging))
        logged = estimators.servable(getattr(trained.model, "fitted_", trained.model), trained.example, config.pool)
        entry = tracking.RoundLog(
            round=decision.round,
            model=logged.model if trained.fitted else None,
            X_example=logged.example,
            trusted_types=logged.trusted_types,
            packages=logged.packages,
            metrics=metrics,
            progress={
                **progress(ctx, decision),
                **view.vendor,
                **_forecast(seen),
                **_agreement(decision),
                **quality_metrics(ctx.state),
                **time_metrics(ctx.state, per_class=config.labels.kind == "class"),
                **review_metrics(ctx.state, decision.round),
                **repeat_metrics(ctx.state, len(decision.repeats.ids) if decision.repeats else 0),
            },
            params={**params, "metric_source": decision.evaluation.source, **strategy_used(decision)},
            registered_model=config.campaign,
            model_tags={
                "alflow.round": str(decision.round),
                "labels_used": str(decision.labels_used),
                "strategy": config.strategy.name,
                **{k: f"{v:.4f}" for k, v in metric_names(metrics).items() if not math.isnan(v)},
            },
            promote=decision.promote,
            stop_reason=decision.stop_reason,
            artifacts=staging,
            tables=tables,
            dataset=(
                view.labeled,
                f"{config.vendor.bucket}/{config.campaign}/ledger",
                f"labeled-set-round-{decision.round:04d}",
            ),
            descriptions=descriptions(ctx, decision, seen),
            view=dashboard.view_state(config.stopping.metric, cost=config.budget.cost_per_label is not None),
            images={"Learning curve and forecast": "plots/learning_curve.png", "Budget": "plots/budget_burndown.png"},
            settings={k: "none" if v is None else str(v) for k, v in changes.settings(config).items()},
            changes=change_params(ctx),
            lifted=ctx.lifted,
        )
        return tracking.log_round(config.tracking.uri, parent_run_id=parent, entry=entry)


def change_params(ctx: RoundContext) -> dict[str, str]:
    """Each recorded change of the settings as a param of the campaign run: `max_labels.from_round_0006`."""
    return {
        f"{name}.from_round_{change.round:04d}": "none" if new is None else str(new)
        for change in ctx.state.changes
        for name, (_, new) in change.changed.items()
    }


def _agreement(decision: Decision) -> dict[str, float]:
    return agreement_figures(decision.measured.stability if decision.measured else None)


def _forecast(seen: Outlook) -> dict[str, float]:
    return seen.forecast.figures() if seen.forecast is not None and not seen.stop_reason else {}
