"""What a simulation tells a team: the table, the recommendation (what it optimised, and what it may
miss), labels saved against random at the targets the budget reaches, and a plot of the curves."""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from alflow.errors import ConfigError

TARGETS = (0.95, 0.98, 0.99)
"""Fractions of the full-data score at which labels are counted."""

OBJECTIVES = {
    "aulc": "the area under the learning curve (the mean {metric} over every round)",
    "labels": "the labels needed to reach 98 % of the full-data {metric}",
    "final": "the {metric} at the end of the budget",
}


def check_objective(objective: str) -> None:
    if objective not in OBJECTIVES:
        raise ConfigError(f"--optimise {objective!r} is unknown; use one of {', '.join(OBJECTIVES)}")


@dataclass(frozen=True)
class Simulation:
    """Curves and the table of a simulation, with the recommended strategy and why."""

    metric: str
    full_score: float
    curves: dict[str, list[tuple[int, float]]]  # strategy -> mean curve over seeds
    table: list[dict]
    recommended: str
    reason: str
    objective: str = "aulc"
    targets: tuple[int, ...] = ()  # the percentages some strategy reached within the budget
    annotators: tuple[dict, ...] = ()  # simulated annotators (name, share, accuracy, estimated), if any
    plans: dict[str, str] = field(default_factory=dict)  # labeling plan -> what it does, if any


def labels_to_reach(curve: list[tuple[int, float]], target: float) -> int | None:
    """Labels used at the first point of the curve at or above `target`, or None."""
    return next((n for n, score in curve if score >= target), None)


def _saved(reached: int | None, random_reached: int | None, last: int) -> tuple[int | None, str]:
    """Labels saved against random at one target, and '>' when random never got there (then more were saved)."""
    if reached is None:
        return None, ""
    if random_reached is None:
        return last - reached, ">"
    return random_reached - reached, ""


def _row(name: str, curve: list, full: float, random_curve: list | None, used: Counter | None) -> dict[str, Any]:
    row: dict[str, Any] = {"strategy": name, "aulc": float(np.mean([s for _, s in curve])), "final": curve[-1][1]}
    for target in TARGETS:
        pct = round(target * 100)
        row[f"labels_to_{pct}"] = labels_to_reach(curve, target * full)
        if random_curve is not None and name != "random":
            saved, note = _saved(row[f"labels_to_{pct}"], labels_to_reach(random_curve, target * full), curve[-1][0])
            row[f"saved_vs_random_{pct}"], row[f"saved_note_{pct}"] = saved, note
    if used and set(used) != {name}:
        row["used"] = ", ".join(f"{s} ×{n}" for s, n in used.most_common())
    return row


def _best(rows: list[dict], objective: str) -> dict:
    if objective == "labels":
        return min(rows, key=lambda r: (r["labels_to_98"] or math.inf, -r["aulc"]))
    return max(rows, key=lambda r: (r[objective], r["aulc"]))


def _reason(best: dict, rows: list[dict], objective: str, metric: str) -> str:
    random_row = next((r for r in rows if r["strategy"] == "random"), None)
    value = {"aulc": f"{best['aulc']:.4f}", "final": f"{best['final']:.4f}"}.get(objective, str(best["labels_to_98"]))
    reason = f"optimises {OBJECTIVES[objective].format(metric=metric)}: {value}"
    if random_row is not None and best is not random_row:
        other = {"aulc": f"{random_row['aulc']:.4f}", "final": f"{random_row['final']:.4f}"}
        reason += f" against random's {other.get(objective, str(random_row['labels_to_98'] or '-'))}"
    if best["labels_to_98"] is not None and best.get("saved_vs_random_98") is not None:
        reason += (
            f"; reaches 98 % of the full-data {metric} with {best['labels_to_98']} labels, "
            f"{best['saved_note_98']}{best['saved_vs_random_98']} fewer than random"
        )
    higher = [r for r in rows if r["final"] > best["final"] + 1e-9]
    if higher:
        top = max(higher, key=lambda r: r["final"])
        reason += (
            f". Note: {top['strategy']} ends higher ({top['final']:.4f} against {best['final']:.4f} at the "
            "end of the budget); if the last labels matter most, compare with --optimise final"
        )
    return reason


def summarise(
    metric: str,
    curves: dict[str, list],
    full_score: float,
    *,
    objective: str = "aulc",
    used: dict[str, Counter] | None = None,
) -> Simulation:
    """The table (AULC, final, labels to 95/98/99 % of the full-data score, labels saved against
    random at each) and the strategy that is best by `objective`, with why and what it may miss."""
    check_objective(objective)
    random_curve = curves.get("random")
    rows = [_row(name, curve, full_score, random_curve, (used or {}).get(name)) for name, curve in curves.items()]
    rows.sort(key=lambda r: -r["aulc"])
    best = _best(rows, objective)
    reached = tuple(round(t * 100) for t in TARGETS if any(r[f"labels_to_{round(t * 100)}"] for r in rows))
    reason = _reason(best, rows, objective, metric)
    return Simulation(metric, full_score, curves, rows, best["strategy"], reason, objective, reached)


def table_markdown(sim: Simulation) -> str:
    def show(value) -> str:
        return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)

    targets = sim.targets or (98,)
    head = [
        "strategy",
        "AULC",
        "final",
        *(f"to {t} %" for t in targets),
        *(f"saved vs random ({t} %)" for t in targets),
    ]
    lines = [
        f"Full-data {sim.metric}: {sim.full_score:.4f}. Recommended: **{sim.recommended}**: {sim.reason}.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for r in sim.table:
        saved = [
            "-" if r.get(f"saved_vs_random_{t}") is None else f"{r[f'saved_note_{t}']}{r[f'saved_vs_random_{t}']}"
            for t in targets
        ]
        cells = [r["strategy"], f"{r['aulc']:.4f}", f"{r['final']:.4f}", *(show(r[f"labels_to_{t}"]) for t in targets)]
        lines.append("| " + " | ".join([*cells, *saved]) + " |")
    used = [f"{r['strategy']} used {r['used']}" for r in sim.table if r.get("used")]
    notes = ["", "'>N': random did not reach the target within the budget: more than N labels saved."]
    return "\n".join(lines + ([""] + [f"- {u}" for u in used] if used else []) + notes + _crowd_lines(sim)) + "\n"


def _crowd_lines(sim: Simulation) -> list[str]:
    """With simulated annotators: what each plan does and each annotator's accuracy (set, on this
    pool, and as the adaptive plan estimated it from overlapping votes)."""
    if not sim.annotators:
        return []
    lines = ["", "Labels are seed labels plus annotations bought (each annotation costs the label price).", ""]
    lines += [f"- {plan}: {what}" for plan, what in sim.plans.items()]
    lines += [f"- {r['strategy']} asked {r['repeats']:g} repeats per replay" for r in sim.table if r.get("repeats")]
    lines += ["", "| annotator | share | accuracy (set) | accuracy on this pool | estimated (adaptive) |"]
    lines.append("|---|---|---|---|---|")
    for a in sim.annotators:
        estimated = "-" if a.get("estimated") is None else f"{a['estimated']:.3f}"
        lines.append(f"| {a['name']} | {a['share']:.2f} | {a['accuracy']:.3f} | {a['on_pool']:.3f} | {estimated} |")
    return lines


def write_outputs(sim: Simulation, folder: Path) -> dict[str, Path]:
    """curves.json, curves.png and table.md under `folder`."""
    from alflow.operations.simulation_plot import plot_curves

    folder.mkdir(parents=True, exist_ok=True)
    paths = {"curves": folder / "curves.json", "plot": folder / "curves.png", "table": folder / "table.md"}
    payload = {
        "metric": sim.metric,
        "full_score": sim.full_score,
        "objective": sim.objective,
        "recommended": sim.recommended,
        "reason": sim.reason,
        "curves": {k: [{"labels": n, sim.metric: s} for n, s in v] for k, v in sim.curves.items()},
        "table": sim.table,
    }
    if sim.annotators:
        payload |= {"annotators": list(sim.annotators), "plans": sim.plans}
    paths["curves"].write_text(json.dumps(payload, indent=2))
    plot_curves(
        sim.curves,
        paths["plot"],
        metric=sim.metric,
        full_score=sim.full_score,
        recommended=sim.recommended,
        targets=sim.targets,
    )
    paths["table"].write_text(table_markdown(sim))
    return paths
