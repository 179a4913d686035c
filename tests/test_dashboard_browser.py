"""Headless Chromium opens the MLflow UI on the three-round campaign a stakeholder would look at.

Debian's chromium, driven by Playwright (`make test` installs both; no browser is downloaded).
Leaves test-artifacts/mlflow-dashboard.png (the campaign run's learning curves) and
test-artifacts/mlflow-runs.png (the experiment's runs with the round runs expanded).
"""

import json
import shutil
from pathlib import Path

import pytest
from mlflow import MlflowClient

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is missing: `make test` installs it"),
]


@pytest.fixture
def page(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    # The UI's own settings, set before its scripts run: the model-training view, and the
    # assistant panel closed (it would cover the charts).
    settings = {
        "mlflow.workflowType_v1": json.dumps("machine_learning"),
        "mlflow.assistant.panelOpen_v1": "false",
        "mlflow.assistant.fab.autoOpenedOnFirstLoad_v1": "true",
    }
    script = "".join(f"window.localStorage.setItem({json.dumps(k)}, {json.dumps(v)});" for k, v in settings.items())
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),  # a fresh profile every time
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            viewport={"width": 1400, "height": 1000},
        )
        context.add_init_script(script)
        try:
            yield context.new_page()
        finally:
            context.close()


def test_mlflow_ui_shows_the_round_runs_and_the_learning_curve(page, dashboard_campaign):
    config, _, _ = dashboard_campaign
    client = MlflowClient(config.tracking.uri)
    experiment = client.get_experiment_by_name(config.experiment)
    (parent,) = client.search_runs([experiment.experiment_id], "tags.`alflow.kind` = 'campaign'")
    ARTIFACTS.mkdir(exist_ok=True)
    base = f"{config.tracking.uri}/#/experiments/{experiment.experiment_id}"

    page.goto(f"{base}/runs?workflowType=machine_learning")
    page.get_by_text(config.campaign, exact=True).last.wait_for(state="visible", timeout=60_000)
    parent_row = page.locator("[role=row]", has=page.get_by_text(config.campaign, exact=True)).last
    parent_row.locator('[col-id="attributes.`Run Name`"] button').first.click()  # expand the nested runs
    for name in ("round-0001", "round-0002", "round-0003"):
        page.get_by_text(name, exact=True).first.wait_for(state="visible", timeout=60_000)
    page.screenshot(path=str(ARTIFACTS / "mlflow-runs.png"))

    page.goto(f"{base}/runs/{parent.info.run_id}/model-metrics")
    search = page.get_by_placeholder("Search metric charts")
    search.wait_for(timeout=60_000)
    search.fill("accuracy")
    chart = page.get_by_text("accuracy_vs_labels", exact=True).first
    chart.wait_for(state="visible", timeout=60_000)
    # The chart is drawn once its axis shows the labels-used steps (20, 30, 40).
    page.get_by_text(f"{config.campaign} (accuracy_vs_labels)").first.wait_for(timeout=60_000)
    page.wait_for_timeout(1000)
    shot = ARTIFACTS / "mlflow-dashboard.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
