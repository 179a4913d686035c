"""Scoring the pool on a Dask cluster (the `dask` extra), when the campaign names one (`cluster`).

Each Parquet part of the pool (a row group of one of its files) is one task: a worker reads it
(an s3:// file through its own download cache), keeps its best candidates and sends only those
back; the client merges them as they arrive into what one process would keep, and picks the
batch. A worker lost mid-scoring is Dask's to recover: the scheduler runs its parts again on
another worker. Without `cluster`, nothing here is imported and Dask need not be installed.
"""

from __future__ import annotations

from collections.abc import Callable

from alflow.config import ClusterConfig
from alflow.data import pools
from alflow.errors import ConfigError
from alflow.round.scoring import Scored, ScoringJob, merge_scored, score_part

Progress = Callable[[int, int], None]
"""Called with (parts scored, parts in all) as the cluster's results arrive."""


def _client(cluster: ClusterConfig):
    try:
        from distributed import Client
    except ImportError:
        raise ConfigError(
            "cluster.address is set but Dask is not installed: pip install 'alflow[dask]', or remove the cluster"
        ) from None
    try:
        return Client(cluster.address, timeout=cluster.timeout, set_as_default=False)
    except OSError as error:
        raise ConfigError(
            f"cluster.address {cluster.address}: no Dask scheduler answered within {cluster.timeout:g} s ({error}); "
            "start it or fix the address"
        ) from None


def score_on_cluster(
    cluster: ClusterConfig, job: ScoringJob, parts: list[pools.Part], *, progress: Progress | None = None
) -> Scored:
    """The candidates of every part, scored on the cluster's workers and merged here.

    Raises ConfigError when Dask is missing, the scheduler does not answer, or the pool is CSV
    (its parts' positions are only known once read: convert it to Parquet to score it on a cluster).
    """
    if any(p.offset is None for p in parts):
        raise ConfigError(
            "cluster scoring reads Parquet pools (positions come from their footers); convert the CSV pool"
        )
    from distributed import as_completed

    with _client(cluster) as client:
        [shared] = client.scatter([job], broadcast=True, hash=False)
        futures = client.map(score_part, parts, job=shared, pure=False)
        results = []
        for done, future in enumerate(as_completed(futures, loop=client.loop), start=1):
            results.append(future.result())
            if progress is not None:
                progress(done, len(parts))
    return merge_scored(results, job.scorer.m)
