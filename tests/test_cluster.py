"""Scoring on a Dask cluster: a real LocalCluster of two worker processes on loopback.

The batch is the one a single process picks, whatever the order the parts come back in, and a
worker killed mid-scoring costs nothing but time. Skipped, with the reason, without the dask extra.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import replace

import pandas as pd
import pytest

from alflow.config import ClusterConfig
from alflow.data.pools import parts
from alflow.errors import ConfigError
from alflow.ledger.ledger import campaign_state
from alflow.round.autolabel import AutoLabels
from alflow.round.cluster import score_on_cluster
from alflow.round.context import RoundContext
from alflow.round.decide import decide
from alflow.round.inputs import validate_inputs
from alflow.round.scoring import score_batches
from alflow.round.select import pool_batches, scoring_job, select_batch
from alflow.round.train import train_model

from helpers import SlowModel

pytestmark = pytest.mark.xdist_group("dask_cluster")  # one LocalCluster per run (tests/conftest.py `dask_cluster`)


def _parquet_campaign(campaign, tmp_path, *, strategy="auto", cluster=None):
    """The campaign with its pool as Parquet in row groups of 100 rows (13 parts), on `cluster`."""
    path = tmp_path / "pool.parquet"
    pd.read_csv(campaign.pool.uri, dtype={"id": str}).to_parquet(path, row_group_size=100)
    return campaign.model_copy(
        update={
            "pool": campaign.pool.model_copy(update={"uri": str(path), "chunk_size": 40}),
            "strategy": campaign.strategy.model_copy(update={"name": strategy}),
            "cluster": cluster,
        }
    )


def _round(config):
    ctx = RoundContext(config, validate_inputs(config), campaign_state(config))
    trained = train_model(ctx)
    return ctx, trained, select_batch(ctx, trained, decide(ctx, trained, AutoLabels()))


@pytest.mark.parametrize("strategy", ["auto", "margin", "combined", "density", "random"])
def test_the_cluster_picks_the_batch_one_process_picks(campaign, tmp_path, dask_cluster, strategy):
    here = _parquet_campaign(campaign, tmp_path, strategy=strategy)
    there = here.model_copy(update={"cluster": ClusterConfig(address=dask_cluster)})
    _, _, local = _round(here)
    _, _, remote = _round(there)
    assert local.batch is not None and remote.batch is not None
    pd.testing.assert_frame_equal(local.batch.items, remote.batch.items)
    pd.testing.assert_frame_equal(local.batch.rows, remote.batch.rows)


def test_a_worker_killed_mid_scoring_is_recovered(campaign, tmp_path, dask_cluster):
    from distributed import Client

    config = _parquet_campaign(campaign, tmp_path, strategy="margin")
    ctx = RoundContext(config, validate_inputs(config), campaign_state(config))
    fast = train_model(ctx)
    expected = score_batches(scoring_job(ctx, fast, k=10, skip=(), rng=_rng(ctx)), pool_batches(ctx))
    trained = replace(fast, model=SlowModel(fast.model, delay=0.15))  # 32 chunks: about 2.5 s a worker
    killed = []

    with Client(dask_cluster, set_as_default=False) as client:
        pids = client.run(os.getpid)

        def kill_one(done, total):
            if done == 1 and not killed:  # one part back, the rest in flight or queued
                address, pid = sorted(pids.items())[0]
                os.kill(pid, signal.SIGKILL)
                killed.append(address)

        job = scoring_job(ctx, trained, k=10, skip=(), rng=_rng(ctx))
        scored = score_on_cluster(ClusterConfig(address=dask_cluster), job, parts(ctx.pool), progress=kill_one)
        client.wait_for_workers(2, timeout=60)  # the nanny restarts the killed worker

    assert killed and scored.rows == expected.rows
    assert scored.candidates.ids.tolist() == expected.candidates.ids.tolist()
    assert scored.candidates.scores.tolist() == expected.candidates.scores.tolist()


def _rng(ctx):
    import numpy as np

    return np.random.default_rng([ctx.config.seed, ctx.round])


def test_a_cluster_that_does_not_answer_is_one_line(campaign, tmp_path):
    pytest.importorskip("distributed", reason="the dask extra is not installed: pip install -e '.[dask]'")
    config = _parquet_campaign(campaign, tmp_path, cluster=ClusterConfig(address="tcp://127.0.0.1:9", timeout=2))
    with pytest.raises(ConfigError, match=r"cluster.address tcp://127.0.0.1:9: no Dask scheduler answered") as caught:
        _round(config)
    assert "\n" not in str(caught.value)


def test_a_csv_pool_is_not_scored_on_a_cluster(campaign, dask_cluster):
    config = campaign.model_copy(update={"cluster": ClusterConfig(address=dask_cluster)})
    with pytest.raises(ConfigError, match="cluster scoring reads Parquet pools"):
        _round(config)


@pytest.mark.slow  # a round in a fresh process
def test_without_a_cluster_a_round_never_imports_dask(campaign_file):
    code = (
        "import sys\n"
        "from alflow.config import load_campaign\n"
        "from alflow.ledger.ledger import campaign_state\n"
        "from alflow.round.autolabel import AutoLabels\n"
        "from alflow.round.context import RoundContext\n"
        "from alflow.round.decide import decide\n"
        "from alflow.round.inputs import validate_inputs\n"
        "from alflow.round.select import select_batch\n"
        "from alflow.round.train import train_model\n"
        f"c = load_campaign({str(campaign_file)!r})\n"
        "ctx = RoundContext(c, validate_inputs(c), campaign_state(c))\n"
        "t = train_model(ctx)\n"
        "d = select_batch(ctx, t, decide(ctx, t, AutoLabels()))\n"
        "assert d.batch.size == 10\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
