"""Stream-based selection as a Prefect flow: screen each newly arrived file, item by item."""

from __future__ import annotations

from prefect import flow

import tasks


@flow(name="active-learning-stream", log_prints=True)
def screen_arrivals(config_path: str, arrivals: str, target_rate: float = 0.1) -> list[dict]:
    """Train on the labels so far, then ask for labels on the uncertain items of each new file.

    `arrivals` is a folder or s3:// prefix where new CSV files land (the pool's id and feature
    columns). The labeling threshold adapts across files so the share asked tracks `target_rate`,
    and never exceeds the campaign's remaining budget. Each file is screened once.
    """
    campaign = tasks.read_campaign(config_path)
    inputs = tasks.validate_inputs(campaign)
    state = tasks.ingest_deliveries(campaign)
    trained = tasks.train_model(campaign, inputs, state)
    records = [
        tasks.screen_arrival(campaign, inputs, trained, arrivals, name, target_rate)
        for name in tasks.list_arrivals(campaign, arrivals)
    ]
    for r in records:
        print(f"{r['file']}: asked {len(r['asked_ids'])} of {r['items']} items (rate so far {r['rate']:.3f})")
    return records
