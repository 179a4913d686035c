"""The round run's figures: pure functions from numbers to matplotlib Figures.

Figures are made without pyplot (no global figure registry, no GUI backend): each function
builds a `matplotlib.figure.Figure` on the Agg canvas and returns it; the caller saves or logs it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

SIZE = (6.0, 4.0)
DPI = 90


def _figure(size: tuple[float, float] = SIZE) -> tuple[Figure, Axes]:
    # Fixed margins rather than a layout engine: a round draws four figures and layout solving
    # roughly doubles the time each takes to save.
    figure = Figure(figsize=size, dpi=DPI)
    figure.subplots_adjust(left=0.13, right=0.96, bottom=0.13, top=0.91)
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def learning_curve(
    labels: Sequence[int],
    values: Sequence[float],
    *,
    metric: str,
    reference: Mapping[str, tuple[Sequence[int], Sequence[float]]] | None = None,
    target: float | None = None,
) -> Figure:
    """`metric` against labels used, one point per round; `reference` adds named curves (e.g. random)."""
    figure, ax = _figure()
    ax.plot(labels, values, marker="o", label="this campaign")
    for name, (x, y) in (reference or {}).items():
        ax.plot(x, y, linestyle="--", marker=".", label=f"{name} (simulation)")
    if target is not None:
        ax.axhline(target, color="grey", linewidth=0.8, linestyle=":", label=f"target {target:g}")
    ax.set_xlabel("labels used")
    ax.set_ylabel(metric)
    ax.set_title(f"Learning curve: {metric}")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return figure


def budget_burndown(
    rounds: Sequence[int], remaining: Sequence[float], *, budget: float, unit: str = "labels"
) -> Figure:
    """What is left of the budget after each round (`unit`: labels or a currency)."""
    figure, ax = _figure()
    ax.step(rounds, remaining, where="post", marker="o", label=f"{unit} remaining")
    ax.axhline(budget, color="grey", linewidth=0.8, linestyle=":", label=f"budget {budget:g}")
    ax.set_ylim(0, budget * 1.05 if budget > 0 else 1)
    ax.set_xlabel("round")
    ax.set_ylabel(f"{unit} remaining")
    ax.set_title("Budget burn-down")
    locator = ax.xaxis.get_major_locator()
    if isinstance(locator, MaxNLocator):  # rounds are whole numbers
        locator.set_params(integer=True)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    return figure


def class_balance(counts: Mapping[str, int]) -> Figure:
    """Labeled items per class, as bars."""
    figure, ax = _figure()
    names = list(counts)
    ax.bar(names, [counts[n] for n in names])
    ax.set_xlabel("class")
    ax.set_ylabel("labeled items")
    ax.set_title(f"Class balance ({sum(counts.values())} labels)")
    ax.grid(alpha=0.3, axis="y")
    return figure


def confusion_matrix(matrix: np.ndarray, classes: Sequence[str]) -> Figure:
    """Counts with true classes as rows and predicted classes as columns."""
    matrix = np.asarray(matrix)
    side = max(4.0, 0.45 * len(classes) + 2.0)
    figure, ax = _figure((side + 1.0, side))
    image = ax.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=ax, shrink=0.8)
    ticks = np.arange(len(classes))
    ax.set_xticks(ticks, classes)
    ax.set_yticks(ticks, classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Confusion matrix (holdout)")
    threshold = matrix.max() / 2 if matrix.size else 0
    for (row, column), count in np.ndenumerate(matrix):
        if count:
            color = "white" if count > threshold else "black"
            ax.text(column, row, str(count), ha="center", va="center", fontsize=8, color=color)
    return figure
