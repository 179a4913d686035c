"""alflow: active-learning campaigns. From a notebook: `alflow.select_batch`, `alflow.select`, `alflow.ActiveLearner`,
`alflow.make_strategy`.

Kept light on import: no Prefect, no MLflow; the selection API loads scikit-learn on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_API = {
    "select_batch": "alflow.selection.notebook",
    "select": "alflow.selection.notebook",
    "Selection": "alflow.selection.notebook",
    "SelectionOptions": "alflow.selection.options",
    "Strategy": "alflow.selection.registry",
    "ActiveLearner": "alflow.selection.learner",
    "make_strategy": "alflow.selection.learner",
}
__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(import_module(_API[name]), name)
    raise AttributeError(f"module 'alflow' has no attribute {name!r}")
