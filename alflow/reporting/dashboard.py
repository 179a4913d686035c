"""Where MLflow's UI puts what a round logs: metric names, the runs table's view, the links.

Pure strings and dicts; alflow.reporting.tracking hands them to MLflow.

**Metric names** are grouped `section/name`: MLflow's charts put each section in its own
collapsible group (model, budget, forecast, vendor, ...), so a stakeholder finds "how good"
under `model/`, "how many and how much" under `budget/`, "when does it end" under `forecast/`.
`LEGACY` maps the names alflow 0.1.0 logged to these, so a running campaign's history is copied
once to the new names (alflow.reporting.tracking.migrate_names).

**Which view opens.** MLflow 3.17's UI decides between its GenAI view (traces, assistant, "Detect
Issues") and its model-training view (runs, charts, models) from the `workflowType` query
parameter, else a per-browser setting (localStorage `mlflow.workflowType_v1`) that defaults to
GenAI; with its `shouldEnableWorkflowBasedNavigation` flag on (hard-wired in 3.17), the
experiment tag `mlflow.experimentKind` is read only through that setting. Later releases sync the
setting from the tag. So alflow sets the tag and every link it hands out carries
`workflowType=machine_learning`.

**The runs table's columns** come from a shared view: an experiment tag
`mlflow.sharedViewState.<key>` holding the page state as JSON, which the UI loads when the URL
says `viewStateShareKey=<key>` (the UI's own "share" button writes the same tag).
"""

from __future__ import annotations

import json
import re
import zlib
from pathlib import Path
from urllib.parse import quote

WORKFLOW = "workflowType=machine_learning"
VIEW_KEY = "alflow-campaign"
VIEW_TAG = f"mlflow.sharedViewState.{VIEW_KEY}"
DESCRIPTION_TAG = "mlflow.note.content"  # an experiment's or a run's description (markdown)
KIND_TAG, KIND = "mlflow.experimentKind", "custom_model_development"
NAMES_TAG, NAMES_VERSION = "alflow.metric_names", "2"

# The round's figures (alflow's own names) -> MLflow metric names.
NAMES = {
    "accuracy": "model/accuracy",
    "f1_macro": "model/f1_macro",
    "f1_micro": "model/f1_micro",  # tags and numbers (alflow.model.targets)
    "hamming_loss": "model/hamming_loss",
    "subset_accuracy": "model/subset_accuracy",
    "r2": "model/r2",
    "rmse": "model/rmse",
    "mae": "model/mae",
    "labels_used": "budget/labels_used",
    "labels_asked": "budget/labels_asked",
    "labels_remaining": "budget/labels_remaining",
    "spend": "budget/spend",
    "spend_remaining": "budget/spend_remaining",
    "batch_size": "round/batch_size",
    "vendor_turnaround_hours": "vendor/turnaround_h",
    "annotator_agreement": "vendor/agreement",
    "auto_labeled": "autolabel/labeled",
    "auto_labeled_round": "autolabel/labeled_round",
    "auto_label_threshold": "autolabel/threshold",
    "stop_set_kappa": "stopping/kappa",  # stable_predictions: agreement with the previous model
    "stop_set_kappa_mean": "stopping/kappa_mean",
    "stop_set_changed": "stopping/changed_predictions",
    "stop_set_f1_bound": "stopping/f1_change_bound",
    "labels_empty_tags": "labels_per_class/no tags",  # tags allowing the empty set: items labeled with none
}
CLASS_PREFIX, CLASS_SECTION = "labels_class_", "labels_per_class/"
LEGACY = {**NAMES, **{f"{name}_vs_labels": None for name in NAMES}}  # twins by labels: dropped


def _safe(name: str) -> str:
    # MLflow accepts letters, digits, _ - . / and spaces in metric names
    return re.sub(r"[^\w\-./ ]", "_", name)


def metric_name(figure: str) -> str | None:
    """The MLflow name of one of the round's figures (names already grouped pass through);
    None for a legacy `_vs_labels` twin, which is no longer logged."""
    if "/" in figure:
        return figure
    if figure.startswith(CLASS_PREFIX):
        base = figure.removesuffix("_vs_labels")
        return None if base != figure else CLASS_SECTION + _safe(figure.removeprefix(CLASS_PREFIX))
    if figure in LEGACY:
        return LEGACY[figure]
    return _safe(figure)


def metric_names(figures: dict[str, float]) -> dict[str, float]:
    return {name: value for key, value in figures.items() if (name := metric_name(key)) is not None}


def view_state(metric: str, *, cost: bool) -> str:
    """The runs table a stakeholder lands on: the stopping metric, labels used, spend and the
    forecast as columns; charts (the chart view) against labels used. A JSON string."""
    columns = [f"model/{metric}", "budget/labels_used", "budget/labels_remaining"]
    columns += ["budget/spend", "budget/spend_remaining"] if cost else []
    columns += [f"forecast/{metric}_at_budget", "forecast/labels_to_target"]
    selected = [f"metrics.`{c}`" for c in columns] + ["attributes.`Models`"]
    state = {
        "searchFilter": "",
        "orderByKey": "attributes.start_time",
        "orderByAsc": False,
        "startTime": "ALL",
        "lifecycleFilter": "Active",
        "datasetsFilter": [],
        "modelVersionFilter": "All Runs",
        "selectedColumns": selected,
        "columnOrder": ["attributes.`Run Name`", *selected],
        "columnWidths": {column: 170 for column in selected[:-1]},
        "globalLineChartConfig": {
            "xAxisKey": "metric",
            "selectedXAxisMetricKey": "budget/labels_used",
            "lineSmoothness": 0,
        },
    }
    return json.dumps(state, separators=(",", ":"))


def ui_port(uri: str) -> int | None:
    """The port `mlflow ui` serves a local store on (None for a server): one per database file,
    5000-5999, so two campaigns' links never point at the same address (each SQLite database
    numbers its experiments from 1)."""
    if uri.startswith(("http://", "https://")):
        return None
    return 5000 + zlib.crc32(uri.encode()) % 1000


def ui_command(uri: str) -> str | None:
    """The command that serves a local store where its links point; None for a server."""
    port = ui_port(uri)
    return None if port is None else f"mlflow ui --backend-store-uri {uri} --port {port}"


def _base(uri: str) -> str:
    # a local store has no UI of its own: `mlflow ui` on the store's own port shows it (ui_command)
    return uri.rstrip("/") if (port := ui_port(uri)) is None else f"http://127.0.0.1:{port}"


def experiment_url(uri: str, experiment_id: str, *, charts: bool = False) -> str:
    """The experiment's runs table, in the model-training view, with alflow's columns; with
    `charts`, its chart view instead, every curve against labels used."""
    mode = "&compareRunsMode=CHART" if charts else ""
    return f"{_base(uri)}/#/experiments/{experiment_id}/runs?{WORKFLOW}&viewStateShareKey={VIEW_KEY}{mode}"


def run_url(uri: str, experiment_id: str, run_id: str) -> str:
    """A run's page in the model-training view."""
    return f"{_base(uri)}/#/experiments/{experiment_id}/runs/{run_id}?{WORKFLOW}"


def model_url(uri: str, name: str, version: str) -> str:
    """A registered model version's page in the model-training view."""
    return f"{_base(uri)}/#/models/{quote(name)}/versions/{version}?{WORKFLOW}"


def artifact_location(uri: str, experiment: str) -> str | None:
    """Where a new experiment keeps its artifacts: beside a SQLite file, so one campaign folder holds
    everything (MLflow's default is ./mlruns in whatever folder the round ran from); a server decides."""
    if not uri.startswith("sqlite:///"):
        return None
    return (Path(uri.removeprefix("sqlite:///")).resolve().parent / "mlartifacts" / experiment).as_uri()
