"""Prefect tasks: thin wrappers, one library call each.

Idempotency lives in the campaign ledger (write-once records), not in Prefect's cache, so every
task runs with NO_CACHE and no task input is ever hashed. Retries are declared on I/O tasks only,
and never for alflow's own errors: a bad delivery does not get better by trying again.
"""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from alflow import rounds, tracking, views
from alflow.config import CampaignConfig, load_campaign
from alflow.errors import AlflowError


def _transient(task, task_run, state) -> bool:
    """Retry only what may succeed next time: I/O and server errors, not alflow's verdicts."""
    try:
        state.result()
    except AlflowError:
        return False
    except Exception:  # noqa: BLE001 - anything else (network, S3, MLflow server) may be transient
        return True
    return False


io_task = task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10], retry_condition_fn=_transient)
compute_task = task(cache_policy=NO_CACHE)


@compute_task
def read_campaign(config_path: str) -> CampaignConfig:
    return load_campaign(config_path)


@io_task
def validate_inputs(campaign: CampaignConfig) -> rounds.Inputs:
    return rounds.validate_inputs(campaign)


@io_task
def ingest_deliveries(campaign: CampaignConfig) -> rounds.CampaignState:
    return rounds.ingest_deliveries(campaign)


@io_task
def claim_round(campaign: CampaignConfig, state: rounds.CampaignState) -> int:
    return rounds.claim_round(campaign, state)


@io_task
def finish_exports(campaign: CampaignConfig, inputs: rounds.Inputs, state: rounds.CampaignState) -> list[str]:
    return rounds.finish_exports(campaign, inputs, state)


@compute_task
def train_model(campaign: CampaignConfig, inputs: rounds.Inputs, state: rounds.CampaignState) -> rounds.Trained:
    return rounds.train_model(campaign, inputs, state)


@compute_task
def evaluate_model(campaign: CampaignConfig, inputs: rounds.Inputs, trained: rounds.Trained) -> rounds.Evaluation:
    return rounds.evaluate_model(campaign, inputs, trained)


@compute_task
def auto_label(campaign, inputs, state, trained) -> rounds.AutoLabels:
    return rounds.auto_label(campaign, inputs, state, trained)


@compute_task
def check_stopping(campaign, inputs, state, evaluation, auto, pool_based: bool) -> rounds.Decision:
    return rounds.decide(campaign, inputs, state, evaluation, auto, pool_based=pool_based)


@compute_task
def select_batch(campaign, inputs, state, trained, decision: rounds.Decision):
    return rounds.select_batch(
        campaign, inputs, state, trained, k=decision.batch_size, skip=decision.auto_labels.labels
    )


@io_task
def list_arrivals(campaign, inputs, state, arrivals: str) -> list[str]:
    return rounds.pending_arrivals(campaign, inputs, state, arrivals)


@io_task
def select_arrivals(campaign, inputs, state, trained, decision, arrivals: str, names: list[str], target_rate: float):
    return rounds.select_arrivals(campaign, inputs, state, trained, decision, arrivals, names, target_rate=target_rate)


@compute_task
def summarize_round(campaign, inputs, state, trained, evaluation, decision, batch) -> views.RoundView:
    return views.round_view(campaign, inputs, state, trained, evaluation, decision, batch)


@io_task
def log_round(campaign, view, decision, trained, evaluation) -> dict[str, str]:
    return tracking.log_campaign_round(campaign, view, decision, trained, evaluation)


@compute_task
def commit_round(campaign, decision, trained, evaluation, batch, tracked) -> dict:
    return rounds.commit_round(campaign, decision, trained, evaluation, batch, tracked)


@io_task
def export_batch(campaign: CampaignConfig, inputs: rounds.Inputs, record: dict) -> str | None:
    return rounds.export_batch(campaign, inputs, record)


@compute_task
def publish_round_summary(campaign: CampaignConfig, record: dict) -> str:
    """The round's Prefect markdown artifact (key `<campaign>-round-NNNN`), linking to its MLflow run."""
    key = f"{campaign.campaign}-round-{record['round']:04d}"
    return str(create_markdown_artifact(key=key, markdown=tracking.round_markdown(campaign, record)))
