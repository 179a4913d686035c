"""The tasks' retry policy, under a real (temporary) Prefect server: a transient error is retried,
an AlflowError (a verdict on the data) is not."""

import pytest
from prefect import flow, task

import tasks
from alflow.errors import DataValidationError, ServiceUnavailableError

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
