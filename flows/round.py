"""One active-learning round as a Prefect flow run: pool-based, or stream-based over arriving files."""

from __future__ import annotations

from prefect import flow

import tasks
from alflow.reports import RoundReport, idle_report, round_report
from alflow.rounds import settle


@flow(name="active-learning-round", log_prints=True)
def active_learning_round(config_path: str, arrivals: str | None = None, target_rate: float = 0.1) -> RoundReport:
    """Ingest delivered labels, train, evaluate, log to MLflow, then stop or export the next batch.

    Pool-based by default: the strategy ranks the campaign's pool. With `arrivals` (a folder or
    s3:// prefix where new CSV files land), the round is stream-based instead: it screens each
    file not screened before, item by item, asking for a label when the item is uncertain enough
    that the share asked tracks `target_rate`, within the budget.

    Never waits for the vendor: if the outstanding batch is not delivered yet, it says so and
    exports nothing.
    """
    campaign = tasks.read_campaign(config_path)
    inputs = tasks.validate_inputs(campaign)
    state = tasks.ingest_deliveries(campaign)
    resumed = tasks.finish_exports(campaign, inputs, state)
    names = tasks.list_arrivals(campaign, inputs, state, arrivals) if arrivals else None
    if idle := idle_report(campaign, state, resumed, arrivals=names):
        print(idle.message())
        return idle

    tasks.claim_round(campaign, state)
    trained = tasks.train_model(campaign, inputs, state)
    evaluation = tasks.evaluate_model(campaign, inputs, trained)
    auto = tasks.auto_label(campaign, inputs, state, trained)
    decision = tasks.check_stopping(campaign, inputs, state, evaluation, auto, pool_based=not arrivals)
    if arrivals:
        batch = tasks.select_arrivals(campaign, inputs, state, trained, decision, arrivals, names, target_rate)
    else:
        batch = tasks.select_batch(campaign, inputs, state, trained, decision) if decision.batch_size else None
    decision = settle(campaign, decision, batch)
    view = tasks.summarize_round(campaign, inputs, state, trained, evaluation, decision, batch)
    tracked = tasks.log_round(campaign, view, decision, trained, evaluation)
    record = tasks.commit_round(campaign, decision, trained, evaluation, batch, tracked)
    location = tasks.export_batch(campaign, inputs, record)
    # The round is committed and exported by now: a summary that fails to publish is logged, not fatal.
    tasks.publish_round_summary(campaign, record, return_state=True)

    report = round_report(campaign, record, location, state)
    print(report.message())
    return report
