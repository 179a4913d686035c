"""Prefect tasks: declarations over the library's round stages (alflow.round), one stage each, and
`STAGES`, the namespace the round's recipe (alflow.operations.recipe) runs in the flow.

Idempotency lives in the campaign ledger (write-once records), not in Prefect's cache, so every
task runs with NO_CACHE and no task input is ever hashed. Retries are declared on I/O tasks only,
and never for alflow's own errors: a bad delivery does not get better by trying again.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from prefect import get_client, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event

from alflow.errors import AlflowError, ServiceUnavailableError
from alflow.intake import notices
from alflow.ledger.records import RoundRecord
from alflow.operations.recipe import Stages
from alflow.reporting import describe, repeat_report, reports, round_run, vendor_quality
from alflow.reporting.reports import RoundReport
from alflow.round import autolabel, commit, decide, export, opening, select, train
from alflow.round.context import RoundContext


def transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry only what may succeed next time: I/O and server errors, not alflow's verdicts."""
    try:
        state.result()
    except ServiceUnavailableError:
        return True  # a bucket or server that did not answer may answer next time
    except AlflowError:
        return False
    except Exception:  # noqa: BLE001 - anything else (network, S3, MLflow server) may be transient
        return True
    return False


IO: dict[str, Any] = {
    "cache_policy": NO_CACHE,
    "retries": 2,
    "retry_delay_seconds": [2, 10],
    "retry_condition_fn": transient,
}
COMPUTE: dict[str, Any] = {"cache_policy": NO_CACHE}


def release_claims(flow: Any, flow_run: Any, state: Any) -> None:
    """The round flow's failure hook: a round that failed after its claim stops renewing it."""
    opening.release_claims(flow_run.parameters.get("config_path"))


def name_flow_run(task: Any, task_run: Any, state: Any) -> None:
    """open_round's completion hook: the flow run is named for its campaign and round
    (`digits-demo-round-0007`, the key of its summary) instead of Prefect's random words. Best
    effort: Prefect logs a hook's failure and the run keeps its name."""
    ctx = state.result()
    if task_run.flow_run_id is not None:
        with get_client(sync_client=True) as client:
            client.set_flow_run_name(task_run.flow_run_id, f"{ctx.config.campaign}-round-{ctx.round:04d}")


open_round = task(**IO, on_completion=[name_flow_run])(opening.open_round)
claim_round = task(**IO)(opening.claim_round)
train_model = task(**COMPUTE)(train.train_model)
auto_label = task(**COMPUTE)(autolabel.auto_label)
decide_round = task(**COMPUTE)(decide.decide)
select_batch = task(**IO)(select.select_batch)
log_round = task(**IO)(round_run.log_round)
commit_round = task(**COMPUTE)(commit.commit_round)
export_batch = task(**IO)(export.export_batch)


@task(**COMPUTE)
def report_round(ctx: RoundContext, record: RoundRecord | None = None, batch_uri: str | None = None) -> RoundReport:
    """What the round did, in one line (printed into the flow's logs) and as fields for scripts."""
    report = reports.round_report(ctx, record, batch_uri)
    print(report.message())
    return report


@task(**COMPUTE)
def ask_for_another_batch(ctx: RoundContext, record: RoundRecord) -> bool:
    """With room for another batch (vendor.batches_in_flight), emit `alflow.batch.wanted`: the
    deployment's trigger starts the next round at once, so the vendor always has work."""
    if not ctx.room_after(len(record.batch_ids)) or record.stop_reason:
        return False
    emit_event(notices.WANTED, resource=notices.resource(ctx.config.campaign), payload={"after_round": record.round})
    return True


@task(**COMPUTE)
def publish_round_summary(ctx: RoundContext, record: RoundRecord) -> str:
    """The round's Prefect markdown artifact (key `<campaign>-round-NNNN`), linking to its MLflow run."""
    key = f"{ctx.config.campaign}-round-{record.round:04d}"
    markdown = describe.round_markdown(ctx.config, record, reports.context_outlook(ctx, record))
    markdown += repeat_report.repeat_markdown(ctx.state, len(record.repeats.ids) if record.repeats else 0)
    markdown += vendor_quality.gold_markdown(ctx.state)
    return str(create_markdown_artifact(key=key, markdown=markdown))


# The round's stages as tasks, for the recipe (alflow.operations.recipe). The summary and the event come
# after the commit and the export: their tasks return their state, so their failure does not fail the round.
STAGES = Stages(
    open_round=open_round,
    claim_round=claim_round,
    train_model=train_model,
    auto_label=auto_label,
    decide_round=decide_round,
    select_batch=select_batch,
    log_round=log_round,
    commit_round=commit_round,
    export_batch=export_batch,
    publish_round_summary=partial(publish_round_summary, return_state=True),
    ask_for_another_batch=partial(ask_for_another_batch, return_state=True),
    report_round=report_round,
)
