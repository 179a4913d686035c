"""The figures of a campaign of tags or numbers (alflow.kinds): per-label F1 and residuals.

Pure functions from numbers to matplotlib Figures on the Agg canvas, without pyplot, as
alflow.reporting.plots draws the others; the round run logs them (alflow.reporting.round_run).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from alflow.reporting.plots import _figure

F1_PREFIX = "model/f1_label/"  # the per-tag F1 metrics, as alflow.model.targets names them


def f1_by_label(metrics: Mapping[str, float], classes: Sequence[str]) -> dict[str, float]:
    """Each tag's F1 from a round's metrics, in the class set's order; {} when it has none (a cold start)."""
    found = {c: metrics.get(F1_PREFIX + c) for c in classes}
    if any(v is None or math.isnan(v) for v in found.values()):
        return {}
    return {c: float(v) for c, v in found.items() if v is not None}


def label_f1(scores: Mapping[str, float], *, source: str = "holdout") -> Figure:
    """One bar per tag, its F1 on `source` (the holdout, or cross-validation), macro-F1 as a line."""
    names = [n if len(n) <= 18 else n[:17] + "…" for n in scores]
    values = list(scores.values())
    figure, ax = _figure((max(6.0, 0.5 * len(names) + 2.0), 4.0))
    figure.subplots_adjust(bottom=0.25)
    bars = ax.bar(range(len(values)), values, color="C0")
    ax.bar_label(bars, labels=[f"{v:.2f}" for v in values], fontsize=8)
    macro = float(np.mean(values)) if values else math.nan
    if values:
        ax.axhline(macro, color="grey", linewidth=0.8, linestyle=":", label=f"macro F1 {macro:.2f}")
        ax.legend(loc="upper right", fontsize=8)
    ax.set_xticks(range(len(names)), names, rotation=45 if max(map(len, names), default=0) > 4 else 0, ha="right")
    ax.set_ylim(0, 1.08)
    ax.set_ylabel("F1")
    ax.set_title(f"F1 by label ({source})")
    ax.grid(axis="y", alpha=0.3)
    return figure


def residuals(truth: Sequence[float], predicted: Sequence[float], *, unit: str | None = None) -> Figure:
    """Residuals (predicted minus true) against the predicted value, one point per holdout item,
    with the zero line and the RMSE in the title."""
    t, p = np.asarray(truth, dtype=float), np.asarray(predicted, dtype=float)
    error = p - t
    figure, ax = _figure()
    ax.scatter(p, error, s=12, alpha=0.6, color="C0")
    ax.axhline(0.0, color="grey", linewidth=0.8)
    rmse = float(np.sqrt(np.mean(error**2))) if len(error) else math.nan
    suffix = f" ({unit})" if unit else ""
    ax.set_xlabel(f"predicted{suffix}")
    ax.set_ylabel(f"predicted − true{suffix}")
    ax.set_title(f"Residuals (holdout, {len(error)} items, RMSE {rmse:.3g})")
    ax.grid(alpha=0.3)
    return figure
