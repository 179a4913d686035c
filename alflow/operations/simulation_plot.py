"""The simulation's plot: every strategy's curve, and its difference to random, with no line hidden.

Strategies whose mean curves are identical (auto and the strategy it ran, say) are drawn once and
named together; the others differ by colour, dash and marker, so overlapping stretches stay readable.
The right panel draws each curve minus random's, where small differences are visible.
"""

from __future__ import annotations

from itertools import cycle
from pathlib import Path

STYLES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def groups(curves: dict[str, list[tuple[int, float]]]) -> dict[str, list[tuple[int, float]]]:
    """One entry per distinct curve, named 'a = b' for strategies whose curves are the same."""
    named: dict[tuple, list[str]] = {}
    for name, curve in curves.items():
        named.setdefault(tuple((n, round(s, 10)) for n, s in curve), []).append(name)
    return {" = ".join(names): list(key) for key, names in named.items()}


def plot_curves(
    curves: dict[str, list[tuple[int, float]]],
    path: Path,
    *,
    metric: str,
    full_score: float,
    recommended: str,
    targets: tuple[int, ...],
) -> None:
    """Write the two panels to `path` (PNG); `targets` are the percentages of `full_score` to mark."""
    # A Figure on the Agg canvas, no pyplot: no backend chosen and no global figure registry touched.
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 4.8))
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2, sharex=True)
    random_curve = dict(curves.get("random", []))
    styles = cycle([(ls, mk) for mk in MARKERS for ls in STYLES])
    colours = cycle(colormaps["tab10"](range(10)))
    for name, curve in groups(curves).items():
        labels, scores = [n for n, _ in curve], [s for _, s in curve]
        is_random = "random" in name.split(" = ")
        ls, marker = ("--", None) if is_random else next(styles)
        style = {"color": "grey" if is_random else next(colours), "linestyle": ls, "marker": marker}
        style |= {"markevery": max(len(curve) // 8, 1), "markersize": 4, "linewidth": 2.2 if is_random else 1.4}
        label = f"{name} (recommended)" if recommended in name.split(" = ") else name
        left.plot(labels, scores, label=label, **style)
        if random_curve:
            right.plot(labels, [s - random_curve.get(n, float("nan")) for n, s in curve], **style)
    for pct in targets:
        left.axhline(full_score * pct / 100, color="grey", linewidth=0.6, linestyle=":")
        left.annotate(f"{pct} %", (left.get_xlim()[0], full_score * pct / 100), fontsize=7, color="grey")
    left.axhline(full_score, color="black", linewidth=0.8, label=f"all labels ({full_score:.3f})")
    left.set(xlabel="labels", ylabel=metric, title="learning curves (mean over seeds)")
    right.axhline(0.0, color="grey", linewidth=0.8)
    right.set(xlabel="labels", ylabel=f"{metric} − random", title="difference to random sampling")
    fig.legend(loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    fig.savefig(path, dpi=110)
