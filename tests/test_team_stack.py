"""The team stack of docs/TEAM.md on loopback (tests/conftest.py `team_stack`): `prefect server` and
`mlflow server` on PostgreSQL, MLflow's artifacts and the vendor exchange on S3 (moto's server).

A four-round campaign runs on it (rounds 1-3 in this process, round 4 in a new one, as in the
dashboard tests), and every stakeholder check of tests/test_mlflow_server.py runs against it
unchanged: they are collected here a second time, with this module's `dashboard_campaign`.
"""

from __future__ import annotations

import boto3
import psycopg2
import pytest
from conftest import run_dashboard_campaign
from test_mlflow_server import *  # noqa: F403 - the stakeholder checks, collected again against the team stack

from alflow.ledger.ledger import campaign_state

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("team_stack")]  # one team stack per run, not per worker


@pytest.fixture(scope="module")
def dashboard_campaign(tmp_path_factory, team_stack):
    folder = tmp_path_factory.mktemp("team-dashboard")
    return run_dashboard_campaign(
        folder, team_stack["mlflow"], bucket=team_stack["exchange"], env=team_stack["prefect_env"]
    )


@pytest.fixture(autouse=True)
def the_teams_prefect_api(team_stack):
    """Prefect clients in these tests ask the team's server (the round summaries are there)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: team_stack["prefect_env"]["PREFECT_API_URL"]}):
        yield


def _count(database: str, query: str) -> int:
    with psycopg2.connect(database) as connection, connection.cursor() as cursor:
        cursor.execute(query)
        return int(cursor.fetchone()[0])


def test_runs_and_models_live_in_postgresql_artifacts_and_the_ledger_on_s3(dashboard_campaign, team_stack):
    config, _, _ = dashboard_campaign
    postgres = team_stack["postgres"]

    assert _count(f"{postgres}/mlflow", "select count(*) from runs where lifecycle_stage = 'active'") == 5
    assert _count(f"{postgres}/mlflow", "select count(*) from model_versions") == 4
    assert _count(f"{postgres}/prefect", "select count(*) from flow_run where state_type = 'COMPLETED'") == 4
    artifacts = boto3.client("s3").list_objects_v2(Bucket="team-artifacts", Prefix="mlflow/")
    assert any(o["Key"].endswith("/MLmodel") for o in artifacts.get("Contents", []))  # the models, on S3
    assert config.vendor.bucket == "s3://team-exchange/campaigns"
    assert sorted(campaign_state(config).rounds) == [1, 2, 3, 4]
