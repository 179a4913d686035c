"""Validating what a round reads before it claims anything: the pool, the seed labels, the holdout."""

from __future__ import annotations

import pandas as pd

from alflow.config import CampaignConfig
from alflow.errors import ConfigError, DataValidationError
from alflow.learning import content, data, validation
from alflow.learning import features as feature_checks
from alflow.round.context import Inputs


def _check_content(config: CampaignConfig) -> int | None:
    """The pool's texts, vectors and references, a chunk at a time (alflow.learning.content); with
    an embedder, its vectors computed now if this version of the pool has none cached. Returns the
    vector length (None without a vector column)."""
    pool = config.pool
    columns = content.content_columns(pool)
    if not columns:
        return None
    chunks = data.pool_chunks(pool, columns)
    dimensions = content.check_items(chunks, pool, base=content.base_of(pool.uri), source=pool.uri)
    if pool.embedder:
        data.pool_embeddings(pool)
    return dimensions


def validate_inputs(config: CampaignConfig) -> Inputs:
    """Check the pool, the seed labels and the holdout; raise DataValidationError on the first problem
    (ConfigError for a budget smaller than the seed labels)."""
    pool = config.pool
    with data.local_file(pool.uri) as path:
        header = data.columns_of(path, source=pool.uri)
    features = data.feature_columns(pool, header)
    parts = list(data.pool_ids(pool)) if pool.id_column in header else []
    ids = pd.concat(parts, ignore_index=True) if parts else pd.Series(dtype=str)
    required = list(dict.fromkeys([*features, *content.content_columns(pool)]))
    validation.check_pool(header, ids, id_column=pool.id_column, features=required, source=pool.uri)
    if ids.empty:
        raise DataValidationError(f"{pool.uri}: the pool has no items (a header and no rows)")
    if pool.reads == "table":
        chunks = data.pool_chunks(pool, features)
        feature_checks.check_features(chunks, features, id_column=pool.id_column, source=pool.uri)
    dimensions = _check_content(config)

    seed_cfg = config.seed_labels
    seed = data.read_table(seed_cfg.uri, text_columns=[pool.id_column, seed_cfg.label_column])
    validation.check_labels(
        seed,
        id_column=pool.id_column,
        label_column=seed_cfg.label_column,
        classes=config.classes,
        allowed_ids=pd.Index(ids),
        allowed_name=f"the pool {pool.uri}",
        source=seed_cfg.uri,
    )
    holdout = None
    if config.holdout is not None:
        label = config.holdout.label_column
        holdout = data.read_table(config.holdout.uri, text_columns=[label])
        validation.check_holdout(
            holdout, features=features, label_column=label, classes=config.classes, source=config.holdout.uri
        )
        if pool.reads == "table":
            feature_checks.check_features([holdout], features, id_column=None, source=config.holdout.uri)
        else:  # the holdout holds what the model reads: texts, or vectors like the pool's
            text = None if pool.vector_column else pool.text_column
            reads = pool.model_copy(update={"text_column": text, "reference_column": None})
            content.check_chunk(holdout, reads, dimensions=dimensions, base="", source=config.holdout.uri)
    seed_labels = dict(zip(seed[pool.id_column], seed[seed_cfg.label_column], strict=True))
    if config.budget.max_labels < len(seed_labels):
        raise ConfigError(
            f"budget.max_labels is {config.budget.max_labels}, fewer than the {len(seed_labels)} seed labels in "
            f"{seed_cfg.uri}: seed labels count against the budget; raise max_labels above {len(seed_labels)}"
        )
    return Inputs(header, features, int(ids.size), seed_labels, holdout, dimensions)
