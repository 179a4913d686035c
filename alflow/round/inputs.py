"""Validating what a round reads before it claims anything: the pool, the seed labels, the holdout.

The pool is checked in one streamed pass over its id column (alflow.data.ids), never held in
memory. Inputs that pass are recorded in the campaign's bucket (`checks/inputs-<digest>.json`),
named by the versions of the pool's files, of the seed labels and of the holdout and by the
settings they were checked against: a later round whose inputs have not changed reads that record
instead of validating again, and a changed file (a new ETag, mtime or size) is validated anew.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator

import pandas as pd
import pyarrow as pa

from alflow.config import CampaignConfig
from alflow.data import content, files, frames, ids, pools, validation
from alflow.data import features as feature_checks
from alflow.errors import AlflowError, AlreadyExistsError, ConfigError, DataValidationError
from alflow.exchange import layout
from alflow.exchange.store import Store
from alflow.ledger.ledger import bucket
from alflow.ledger.records import InputsCheck, now
from alflow.round.context import Inputs

CHECKS = 1
"""The version of the checks themselves: raise it when they change, so earlier records no longer vouch."""


def _digest(config: CampaignConfig, source: pools.PoolSource) -> str:
    """What a check depends on: every input's version and the settings it is checked against."""
    pool, seed, holdout = config.pool, config.seed_labels, config.holdout
    facts = {
        "checks": CHECKS,
        "pool": [source.uri, source.version, pool.id_column, pool.feature_columns, *content.content_columns(pool)],
        "seed": [seed.uri, files.file_version(seed.uri), seed.label_column],
        "holdout": holdout and [holdout.uri, files.file_version(holdout.uri), holdout.label_column],
        "classes": list(config.classes),
    }
    if not config.label_kind.is_class:  # the single-class digest stays what it was
        facts["labels"] = config.labels.model_dump()
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:32]


def _recorded(store: Store, key: str) -> InputsCheck | None:
    """The record of an earlier check of these inputs, or None: missing, of another schema (the write
    then finds it taken), or unreadable because the bucket is (the bucket's own check says why)."""
    try:
        return InputsCheck.from_json(store.read(key))
    except (OSError, ValueError, AlflowError):
        return None


def _id_chunks(config: CampaignConfig, source: pools.PoolSource) -> ids.Chunks:
    pool = config.pool

    def read():
        for offset, batch in pools.read_pool(
            source, columns=[pool.id_column], id_column=pool.id_column, chunk_size=pool.chunk_size
        ):
            yield offset, batch.column(0)

    return read


def _feature_batches(config: CampaignConfig, source: pools.PoolSource, features: list[str]) -> Iterator[pa.RecordBatch]:
    """The pool's id and feature columns, a chunk at a time, for the numeric checks."""
    pool = config.pool
    columns = list(dict.fromkeys([pool.id_column, *features]))
    for _, batch in pools.read_pool(source, columns=columns, id_column=pool.id_column, chunk_size=pool.chunk_size):
        yield batch


def _check_content(config: CampaignConfig, source: pools.PoolSource) -> int | None:
    """The pool's texts, vectors and references, a chunk at a time (alflow.data.content). Returns
    the vector length (None without a vector column)."""
    pool = config.pool
    columns = content.content_columns(pool)
    if not columns:
        return None
    batches = pools.read_pool(  # with the ids, so an error names the row's item
        source,
        columns=[pool.id_column, *columns],
        id_column=pool.id_column,
        chunk_size=pool.chunk_size,
        text=frames.text_columns(pool),
    )
    chunks = (frames.as_frame(batch, pool) for _, batch in batches)
    return content.check_items(chunks, pool, base=pools.reference_base(pool.uri), source=pool.uri)


def _check(
    config: CampaignConfig, source: pools.PoolSource, features: list[str], seed: pd.DataFrame
) -> tuple[int, int | None]:
    """Validate the pool (every file's columns, its ids, its texts, vectors and references) and the
    seed labels against it; its rows and the length of its vectors (None without a vector column)."""
    pool = config.pool
    header = pools.header_of(source)
    required = list(dict.fromkeys([*features, *content.content_columns(pool)]))
    for file in source.files[1:]:  # every file's footer is read here, before any pass
        validation.check_pool(
            pools.file_columns(file), ids.IdScan(0), id_column=pool.id_column, features=required, source=file.uri
        )
    wanted: list[str] = seed[pool.id_column].dropna().tolist() if pool.id_column in seed else []
    scan = ids.scan_ids(_id_chunks(config, source), wanted=wanted) if pool.id_column in header else ids.IdScan(0)
    validation.check_pool(header, scan, id_column=pool.id_column, features=required, source=pool.uri)
    if scan.rows == 0:
        raise DataValidationError(f"{pool.uri}: the pool has no items (a header and no rows)")
    if pool.reads == "table":
        batches = _feature_batches(config, source, features)
        feature_checks.check_feature_batches(batches, features, id_column=pool.id_column, source=pool.uri)
    validation.check_labels(
        seed,
        id_column=pool.id_column,
        label_column=config.seed_labels.label_column,
        classes=config.classes,
        allowed_ids=set(scan.found),
        allowed_name=f"the pool {pool.uri}",
        source=config.seed_labels.uri,
        kind=config.label_kind,
    )
    return scan.rows, _check_content(config, source)


def _read_holdout(
    config: CampaignConfig, features: list[str], *, check: bool, dimensions: int | None
) -> pd.DataFrame | None:
    if config.holdout is None:
        return None
    label = config.holdout.label_column
    holdout = frames.read_table(config.holdout.uri, text_columns=[label])
    if check:
        validation.check_holdout(
            holdout,
            features=features,
            label_column=label,
            classes=config.classes,
            source=config.holdout.uri,
            kind=config.label_kind,
        )
        pool = config.pool
        if pool.reads == "table":
            feature_checks.check_features([holdout], features, id_column=None, source=config.holdout.uri)
        else:  # the holdout holds what the model reads: texts, or vectors like the pool's
            text = None if pool.vector_column else pool.text_column
            reads = pool.model_copy(update={"text_column": text, "reference_column": None})
            content.check_chunk(holdout, reads, dimensions=dimensions, base="", source=config.holdout.uri)
    return _spelled(holdout, label, config)


def _spelled(frame: pd.DataFrame, label: str, config: CampaignConfig) -> pd.DataFrame:
    """`frame` with its labels in the one spelling of the campaign's kind (alflow.kinds); class labels as they are."""
    kind = config.label_kind
    if kind.is_class or label not in frame.columns:
        return frame
    return frame.assign(**{label: kind.parse_column(frame[label])[0]})


def validate_inputs(config: CampaignConfig, *, record: bool = True) -> Inputs:
    """Check the pool, the seed labels and the holdout, or find them checked already at these versions;
    inputs that pass are recorded in the bucket unless `record` is False (`alflow check` writes nothing).

    Raises DataValidationError on the first problem (nothing is recorded then), ConfigError for a
    missing file or a budget smaller than the seed labels.
    """
    pool, started = config.pool, time.perf_counter()
    source = pools.open_pool(pool.uri)
    store, key = bucket(config), layout.check_key(config.campaign, _digest(config, source))
    recorded = _recorded(store, key)
    header = recorded.header if recorded else pools.header_of(source)
    features = frames.feature_columns(pool, header)
    seed_cfg = config.seed_labels
    seed = frames.read_table(seed_cfg.uri, text_columns=[pool.id_column, seed_cfg.label_column])
    if seed.empty:  # the first model trains on them: without one, a round would fail after its claim
        raise DataValidationError(
            f"{seed_cfg.uri}: the seed labels are empty (a header and no rows): label a few items first", reason="empty"
        )
    rows, dimensions = (recorded.rows, recorded.dimensions) if recorded else _check(config, source, features, seed)
    seed = _spelled(seed, seed_cfg.label_column, config)
    holdout = _read_holdout(config, features, check=recorded is None, dimensions=dimensions)
    if pool.embedder:  # computed now if this version of the pool has none cached here
        frames.pool_embeddings(pool, source)
    if recorded is None and record:
        check = InputsCheck(
            digest=key.rsplit("-", 1)[-1].removesuffix(".json"),
            pool=pool.uri,
            pool_version=source.version,
            files=len(source.files),
            rows=rows,
            dimensions=dimensions,
            header=header,
            checked_at=now(),
            seconds=round(time.perf_counter() - started, 3),
        )
        try:
            store.write_once(key, check.to_json())
        except AlreadyExistsError:
            pass  # another round checked the same inputs meanwhile
    seed_labels = dict(zip(seed[pool.id_column], seed[seed_cfg.label_column], strict=True))
    if config.budget.max_labels < len(seed_labels):
        raise ConfigError(
            f"budget.max_labels is {config.budget.max_labels}, fewer than the {len(seed_labels)} seed labels in "
            f"{seed_cfg.uri}: seed labels count against the budget; raise max_labels above {len(seed_labels)}"
        )
    return Inputs(header, features, rows, seed_labels, holdout, dimensions, source=source)
