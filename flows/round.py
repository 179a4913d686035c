"""One active-learning round as a Prefect flow run."""

from __future__ import annotations

from prefect import flow

import tasks
from alflow.rounds import RoundReport, idle_report, round_report


@flow(name="active-learning-round", log_prints=True)
def active_learning_round(config_path: str) -> RoundReport:
    """Ingest delivered labels, train, evaluate, log to MLflow, then stop or export the next batch.

    Never waits for the vendor: if the outstanding batch is not delivered yet, it says so and
    exports nothing.
    """
    campaign = tasks.read_campaign(config_path)
    inputs = tasks.validate_inputs(campaign)
    state = tasks.ingest_deliveries(campaign)
    resumed = tasks.finish_exports(campaign, inputs, state)
    if idle := idle_report(campaign, state, resumed):
        print(idle.message())
        return idle

    tasks.claim_round(campaign, state)
    trained = tasks.train_model(campaign, inputs, state)
    evaluation = tasks.evaluate_model(campaign, inputs, trained)
    decision = tasks.check_stopping(campaign, inputs, state, evaluation)
    batch = tasks.select_batch(campaign, inputs, state, trained, decision) if decision.batch_size else None
    view = tasks.summarize_round(campaign, inputs, state, trained, evaluation, decision, batch)
    tracked = tasks.log_round(campaign, view, decision, trained, evaluation)
    record = tasks.commit_round(campaign, decision, trained, evaluation, batch, tracked)
    location = tasks.export_batch(campaign, inputs, record)
    tasks.publish_round_summary(campaign, record)

    report = round_report(campaign, record, location, state)
    print(report.message())
    return report
