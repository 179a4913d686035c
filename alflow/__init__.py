"""alflow: active-learning campaigns. `alflow.select_batch` is the notebook entry point.

Kept light on import: no Prefect, no MLflow; `select_batch` loads scikit-learn on first use.
"""

from __future__ import annotations

__all__ = ["select_batch"]


def __getattr__(name: str):
    if name == "select_batch":
        from alflow.selection.pool import select_batch

        return select_batch
    raise AttributeError(f"module 'alflow' has no attribute {name!r}")
