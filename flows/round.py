"""One active-learning round as a Prefect flow run: pool-based, or stream-based over arriving files."""

from __future__ import annotations

from prefect import flow

import tasks
from alflow.operations.recipe import round_recipe
from alflow.reporting.reports import RoundReport


@flow(
    name="active-learning-round", log_prints=True, on_failure=[tasks.release_claims], on_crashed=[tasks.release_claims]
)
def active_learning_round(config_path: str, arrivals: str | None = None, target_rate: float = 0.1) -> RoundReport:
    """Ingest delivered labels, train, evaluate, log to MLflow, then stop or export the next batch.

    Pool-based by default: the strategy ranks the campaign's pool. With `arrivals` (a folder or
    s3:// prefix where new CSV files land), the round is stream-based instead: it screens each
    file not screened before, item by item, asking for a label when the item is uncertain enough
    that the share asked tracks `target_rate`, within the budget.

    Never waits for the vendor: while as many batches are out as `vendor.batches_in_flight`
    allows, it says so and exports nothing. With room left for another batch, it asks for the next
    round (an `alflow.batch.wanted` event, which the deployment's trigger answers).

    The recipe is `alflow.operations.recipe.round_recipe` over the tasks (`tasks.STAGES`): the plain
    round (alflow.operations.plain) runs the same recipe over the library's functions.
    """
    return round_recipe(tasks.STAGES, config_path, arrivals=arrivals, target_rate=target_rate)
