"""Headless Chromium opens the MLflow UI as a stakeholder would, on the links alflow hands out.

Debian's chromium, driven by Playwright (`make test` installs both; no browser is downloaded), with
a fresh profile: no view chosen before. Leaves in test-artifacts/: mlflow-runs.png (the runs table
the experiment link lands on, round runs expanded), mlflow-campaign-run.png (the campaign run's
description), mlflow-dashboard.png (its charts, by section) and mlflow-charts.png (the chart view,
curves against labels used).
"""

import re
import shutil
from pathlib import Path

import pytest
from mlflow import MlflowClient

from alflow.reporting import dashboard

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
    pytest.mark.xdist_group("dashboard"),  # with tests/test_mlflow_server.py: one `dashboard_campaign` per run
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is missing: `make test` installs it"),
]


@pytest.fixture
def page(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    # Only the assistant panel is closed (MLflow opens it once per browser on a local server, over
    # the charts); which view opens is left to the links, as for a stakeholder's browser.
    settings = {"mlflow.assistant.panelOpen_v1": "false", "mlflow.assistant.fab.autoOpenedOnFirstLoad_v1": "true"}
    script = "".join(f"window.localStorage.setItem({k!r}, {v!r});" for k, v in settings.items())
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


def test_the_links_land_on_the_training_runs_the_description_and_grouped_charts(page, dashboard_campaign):
    config, _, last = dashboard_campaign
    client = MlflowClient(config.tracking.uri)
    experiment = client.get_experiment_by_name(config.experiment)
    (parent,) = client.search_runs([experiment.experiment_id], "tags.`alflow.kind` = 'campaign'")
    ARTIFACTS.mkdir(exist_ok=True)
    seconds = 60_000

    # The experiment link (`alflow status`, the Prefect summary, the demo) lands on the runs table,
    # with the metric, labels and spend as columns, without a click.
    page.goto(dashboard.experiment_url(config.tracking.uri, experiment.experiment_id))
    page.get_by_text(config.campaign, exact=True).last.wait_for(state="visible", timeout=seconds)
    assert re.search(r"/experiments/\d+/runs\?", page.url), page.url
    for column in ("model/accuracy", "budget/labels_used", "budget/spend"):
        page.get_by_text(column, exact=True).first.wait_for(state="visible", timeout=seconds)
    assert not page.get_by_text("Detect Issues").is_visible()  # not the GenAI overview
    parent_row = page.locator("[role=row]", has=page.get_by_text(config.campaign, exact=True)).last
    parent_row.locator('[col-id="attributes.`Run Name`"] button').first.click()  # expand the nested runs
    for name in ("round-0001", "round-0002", "round-0003", "round-0004"):
        page.get_by_text(name, exact=True).first.wait_for(state="visible", timeout=seconds)
    page.screenshot(path=str(ARTIFACTS / "mlflow-runs.png"))

    # The campaign run's link: its description answers the four questions, the forecast included.
    page.goto(dashboard.run_url(config.tracking.uri, experiment.experiment_id, parent.info.run_id))
    page.get_by_text("How good", exact=True).first.wait_for(timeout=seconds)
    show_more = page.get_by_text("Show more", exact=True)
    if show_more.count():
        show_more.first.click()
    page.get_by_text(re.compile("expected at the 60-label budget")).first.wait_for(state="visible", timeout=seconds)
    page.get_by_text(re.compile(r"spent 3\.20 of 3\.20 USD")).first.wait_for(state="visible", timeout=seconds)
    # its "Registered models" box links the rounds' versions (MLflow 3: its model outputs' versions)
    page.locator(f"a[href*='models/{config.campaign}/versions/']").first.wait_for(timeout=seconds)
    page.screenshot(path=str(ARTIFACTS / "mlflow-campaign-run.png"))

    # Its charts come in sections named by the metric groups.
    page.goto(
        dashboard.run_url(config.tracking.uri, experiment.experiment_id, parent.info.run_id).replace(
            "?", "/model-metrics?"
        )
    )
    for section in ("model", "budget", "forecast"):
        page.get_by_text(section, exact=True).first.wait_for(state="visible", timeout=seconds)  # its header
    page.get_by_placeholder("Search metric charts").fill("model/")  # charts below the fold are drawn lazily
    page.get_by_text(f"{config.campaign} (model/accuracy)").first.wait_for(timeout=seconds)  # the chart is drawn
    page.wait_for_timeout(1000)
    shot = ARTIFACTS / "mlflow-dashboard.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000

    # The chart view draws every curve against labels used, and its axis says so.
    page.goto(dashboard.experiment_url(config.tracking.uri, experiment.experiment_id, charts=True))
    axis = page.locator("text.xtitle").filter(has_text=re.compile("^budget/labels_used$"))  # plotly's x-axis title
    axis.first.wait_for(state="visible", timeout=seconds)
    page.get_by_text("model", exact=True).first.wait_for(state="visible", timeout=seconds)
    page.wait_for_timeout(1000)
    page.screenshot(path=str(ARTIFACTS / "mlflow-charts.png"))
    assert last["round"] == 4
