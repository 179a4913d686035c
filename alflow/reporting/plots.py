"""The round run's figures: pure functions from numbers to matplotlib Figures.

Figures are made without pyplot (no global figure registry, no GUI backend): each function
builds a `matplotlib.figure.Figure` on the Agg canvas and returns it; the caller saves or logs it
(the log stage with `save_png`: the bytes `Figure.savefig` writes, through renderers kept per size).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import matplotlib.image
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

SIZE = (6.0, 4.0)
DPI = 90
RENDERERS = 4  # Agg renderers kept for the process, one per figure size (a round draws two or three sizes)

_renderers: OrderedDict[tuple[int, int, float], RendererAgg] = OrderedDict()
_drawing = threading.Lock()  # one figure at a time through the kept renderers


def save_png(figure: Figure, path: Path | BinaryIO) -> None:
    """Save `figure` as a PNG file: the bytes `figure.savefig(path)` writes, drawn through an Agg
    renderer kept for the process, one per figure size. matplotlib caches the measures of a text per
    renderer, so a figure's own canvas starts with none, while a kept renderer has those of every tick
    label, title and count drawn before, in this round and the ones before it (benchmarks/first_use.py:
    a round's four figures, about a tenth less). Sized as the figure's Agg canvas sizes its own."""
    width, height = figure.canvas.get_width_height(physical=True)
    key = (width, height, figure.dpi)
    with _drawing:
        renderer = _renderers.pop(key, None) or RendererAgg(width, height, figure.dpi)
        _renderers[key] = renderer  # the most recent last
        while len(_renderers) > RENDERERS:
            _renderers.popitem(last=False)
        renderer.clear()
        figure.draw(renderer)
        matplotlib.image.imsave(path, renderer.buffer_rgba(), format="png", origin="upper", dpi=figure.dpi)


def _figure(size: tuple[float, float] = SIZE) -> tuple[Figure, Axes]:
    # Fixed margins rather than a layout engine: a round draws four figures and layout solving
    # roughly doubles the time each takes to save.
    figure = Figure(figsize=size, dpi=DPI)
    figure.subplots_adjust(left=0.13, right=0.96, bottom=0.13, top=0.91)
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def _title(ax: Axes, text: str) -> None:
    """The title where matplotlib puts it when nothing is drawn above the axes. Its place given
    (y=1.0), matplotlib does not measure every tick label at each save to find it: a tenth of the
    figure's drawing time, the same pixels. (Not for the confusion matrix: its place differs.)"""
    ax.set_title(text, y=1.0)


def learning_curve(
    labels: Sequence[int],
    values: Sequence[float],
    *,
    metric: str,
    reference: Mapping[str, tuple[Sequence[int], Sequence[float]]] | None = None,
    target: float | None = None,
    band: tuple[Sequence[int], Sequence[float], Sequence[float], Sequence[float]] | None = None,
) -> Figure:
    """`metric` against labels used, one point per round; `reference` adds named curves (e.g. random),
    `band` the forecast (labels, expected, low, high) up to the end of the budget."""
    figure, ax = _figure()
    ax.plot(labels, values, marker="o", label="this campaign")
    for name, (x, y) in (reference or {}).items():
        ax.plot(x, y, linestyle="--", marker=".", label=f"{name} (simulation)")
    if band is not None:
        x, expected, low, high = band
        ax.plot(x, expected, color="C0", linestyle=":", label="forecast")
        ax.fill_between(x, low, high, color="C0", alpha=0.15, linewidth=0, label="forecast interval")
    if target is not None:
        ax.axhline(target, color="grey", linewidth=0.8, linestyle=":", label=f"target {target:g}")
    ax.set_xlabel("labels used")
    ax.set_ylabel(metric)
    _title(ax, f"Learning curve: {metric} by labels used")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return figure


def _integer_rounds(ax: Axes, *, first: str) -> None:
    """Whole-number round ticks on the x-axis, round 0 named `first`."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: first if v == 0 else f"{v:g}"))


def budget_burndown(
    rounds: Sequence[int],
    labels_left: Sequence[int],
    *,
    max_labels: int,
    seed_labels: int,
    cost_per_label: float | None = None,
    currency: str = "USD",
    first_max_labels: int | None = None,
    changes: Mapping[int, str] | None = None,
) -> Figure:
    """Labels the budget still allows after each round, starting from what the (free) seed labels
    left of the first budget (`first_max_labels`, default `max_labels`); with a cost per label, a
    second axis says the same in money. `changes` (round -> what changed) are drawn where they
    took effect, as dashed lines before their round."""
    figure, ax = _figure()
    figure.subplots_adjust(right=0.86)
    start = max(0, (first_max_labels or max_labels) - seed_labels)
    x, y = [0, *rounds], [start, *labels_left]
    ax.step(x, y, where="post", marker="o", label="labels left")
    for n, (round_, text) in enumerate(sorted((changes or {}).items())):
        ax.axvline(
            round_ - 0.5, color="tab:red", linewidth=0.9, linestyle="--", label="settings changed" if not n else None
        )
        ax.annotate(
            text,
            (round_ - 0.5, max(max_labels, 1) * 1.02),
            fontsize=7,
            color="tab:red",
            rotation=90,
            va="top",
            ha="right",
        )
    ax.axhspan(start, max_labels, color="grey", alpha=0.15, linewidth=0, label=f"{seed_labels} seed labels (free)")
    ax.axhline(max_labels, color="grey", linewidth=0.8, linestyle=":", label=f"budget {max_labels} labels")
    ax.set_ylim(0, max(max_labels, 1) * 1.08)
    ax.set_xlabel("round")
    ax.set_ylabel("labels left in the budget")
    _integer_rounds(ax, first="seed")
    title = f"Budget: {y[-1]} of {max_labels} labels left"
    if cost_per_label:
        cost = cost_per_label

        def to_money(labels: Any) -> Any:
            return np.asarray(labels) * cost

        def to_labels(amount: Any) -> Any:
            return np.asarray(amount) / cost

        money = ax.secondary_yaxis("right", functions=(to_money, to_labels))
        money.set_ylabel(f"{currency} left to spend")
        title += f" ({y[-1] * cost:,.2f} of {start * cost:,.2f} {currency})"
    _title(ax, title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    return figure


def class_balance(counts: Mapping[str, int], *, items: int | None = None, empty: int | None = None) -> Figure:
    """Labeled items per class, as bars. For tags (`items`: the labeled items) the items carrying each
    tag, and with `empty` a last bar, "no tags", for the items labeled with the empty set."""
    figure, ax = _figure()
    bars = {**counts, **({"no tags": empty} if empty is not None else {})}
    ax.bar(list(bars), list(bars.values()))
    ax.set_xlabel("class" if items is None else "tag")
    ax.set_ylabel("labeled items")
    tagged = f"Tag balance ({items} labeled items)"
    _title(ax, f"Class balance ({sum(counts.values())} labels)" if items is None else tagged)
    ax.grid(alpha=0.3, axis="y")
    return figure


def confusion_matrix(matrix: np.ndarray, classes: Sequence[str]) -> Figure:
    """Counts with true classes as rows and predicted classes as columns."""
    matrix = np.asarray(matrix)
    names = [str(c) if len(str(c)) <= 18 else str(c)[:17] + "…" for c in classes]
    widest = max((len(n) for n in names), default=1)
    side = max(4.0, 0.45 * len(names) + 2.0)
    width = side + 1.0 + 0.06 * widest
    figure, ax = _figure((width, side + 0.06 * widest))
    # room (in inches) for the class names and the axis label, whatever the names' length
    figure.subplots_adjust(left=(0.55 + 0.075 * widest) / width, bottom=(0.5 + 0.06 * widest) / (side + 0.06 * widest))
    image = ax.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=ax, shrink=0.8, label="holdout items")
    ticks = np.arange(len(classes))
    ax.set_xticks(ticks, names, rotation=45 if widest > 3 else 0, ha="right" if widest > 3 else "center")
    ax.set_yticks(ticks, names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"Confusion matrix (holdout, {int(matrix.sum())} items)")
    threshold = matrix.max() / 2 if matrix.size else 0
    for (row, column), count in np.ndenumerate(matrix):
        if count:
            color = "white" if count > threshold else "black"
            ax.text(column, row, str(count), ha="center", va="center", fontsize=8, color=color)
    return figure
