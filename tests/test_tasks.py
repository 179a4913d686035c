"""The tasks' retry policy, under a real (temporary) Prefect server: a transient error is retried,
an AlflowError (a verdict on the data) is not. And the one round recipe: the flow's stages are the
plain round's."""

from dataclasses import fields
from functools import partial
from types import SimpleNamespace

import pytest
from prefect import Task, flow, task

import tasks
from alflow.errors import DataValidationError, ServiceUnavailableError
from alflow.operations.plain import plain_stages
from alflow.operations.recipe import Stages, round_recipe
from alflow.reporting import reports

pytestmark = pytest.mark.usefixtures("prefect_server")
FAST = {**tasks.IO, "retry_delay_seconds": 0}  # the same policy without the waits


@pytest.mark.parametrize(
    "outage",
    [ConnectionError("503 Slow Down"), ServiceUnavailableError("s3://b/c: the S3 endpoint did not answer")],
    ids=["network", "alflow-service-unavailable"],
)
def test_a_transient_error_is_retried_and_an_alflow_error_is_not(outage):
    calls = {"flaky": 0, "verdict": 0}

    def flaky() -> str:
        calls["flaky"] += 1
        if calls["flaky"] < 3:
            raise outage
        return "read"

    def verdict() -> None:
        calls["verdict"] += 1
        raise DataValidationError("pool.csv: column 'id' must be unique")

    @flow
    def round_like():
        return task(**FAST)(flaky)(), task(**FAST)(verdict)(return_state=True)

    result, refused = round_like()

    assert result == "read" and calls["flaky"] == 3  # two retries, then it worked
    assert refused.is_failed() and calls["verdict"] == 1  # never retried
    with pytest.raises(DataValidationError, match="must be unique"):
        refused.result()


def test_a_transient_error_that_persists_fails_after_the_declared_retries():
    calls = []

    def down() -> None:
        calls.append(1)
        raise TimeoutError("MLflow server did not answer")  # Prefect retries it like any exception

    @flow
    def round_like() -> bool:
        return task(**FAST)(down)(return_state=True).is_failed()  # a flow returning a failed state would fail

    assert round_like() and len(calls) == 1 + tasks.IO["retries"]


IO_TASKS = [tasks.open_round, tasks.claim_round, tasks.select_batch, tasks.log_round, tasks.export_batch]
COMPUTE_TASKS = [
    tasks.train_model,
    tasks.auto_label,
    tasks.decide_round,
    tasks.commit_round,
    tasks.report_round,
    tasks.publish_round_summary,
]


@pytest.mark.parametrize("declared", IO_TASKS, ids=lambda t: t.name)
def test_io_tasks_retry_transient_errors_only(declared):
    assert declared.retries == 2 and declared.retry_condition_fn is tasks.transient


@pytest.mark.parametrize("declared", COMPUTE_TASKS, ids=lambda t: t.name)
def test_compute_tasks_do_not_retry(declared):
    assert declared.retries == 0


# --- one recipe: the flow and the plain round ---------------------------------------------------

LEFT_OUT_OF_THE_PLAIN_ROUND = {"publish_round_summary", "ask_for_another_batch"}  # Prefect's artifact and event


def _task(stage):
    return stage.func if isinstance(stage, partial) else stage


def test_the_flow_and_the_plain_round_run_the_same_library_stages():
    plain_round = plain_stages()
    for name in [f.name for f in fields(Stages)]:
        declared, plain = _task(getattr(tasks.STAGES, name)), getattr(plain_round, name)
        assert isinstance(declared, Task), name
        if name == "report_round":  # the task prints the report's line into the flow's logs
            assert plain is reports.round_report
        elif name in LEFT_OUT_OF_THE_PLAIN_ROUND:
            assert plain is not declared.fn
        else:
            assert declared.fn is plain, f"{name}: the flow runs {declared.fn}, the plain round {plain}"


@pytest.mark.parametrize("best_effort", sorted(LEFT_OUT_OF_THE_PLAIN_ROUND))
def test_the_flow_runs_the_stages_after_the_export_for_their_state(best_effort):
    stage = getattr(tasks.STAGES, best_effort)
    assert isinstance(stage, partial) and stage.keywords == {"return_state": True}


def test_the_recipe_calls_every_stage_once_in_order():
    calls = []

    def stage(name):
        def call(*args, **kwargs):
            calls.append(name)
            return SimpleNamespace(has_work=True, batch=None)

        return call

    recording = Stages(**{f.name: stage(f.name) for f in fields(Stages)})
    round_recipe(recording, "campaign.yaml")
    assert calls == [f.name for f in fields(Stages)]
