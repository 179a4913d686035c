"""Vendor idle time over a simulated campaign: one batch in flight against three, in labels per hour.

    python benchmarks/vendor_idle.py [--turnaround 5,30] [--pickup 10] [--latency 60]

The campaign is the demo's (scikit-learn's digits, 20 seed labels, budget 220 labels, batches of
20, strategy auto, a holdout). Rounds are real: each is the flow's recipe as plain library calls
(alflow.round.*) on a local bucket, MLflow on SQLite, and its decisions (export or wait, how many
batches are open, when the budget is spent) drive the simulation. Time is simulated, in seconds:

- a vendor labels one batch at a time, oldest first, in TURNAROUND minutes, and delivers it
  (labels, then `_DONE`); when it has nothing to label it looks at the bucket every PICKUP minutes,
  so a batch exported while it is idle waits for its next look;
- a delivery starts a round LATENCY seconds later (the watcher's event and the trigger; "within a
  minute"), and so does a round that leaves room for another batch (`alflow.batch.wanted`); the
  hourly schedule runs one too; a round takes the seconds it really took here;
- the campaign ends when a round stops it (the budget spent) with nothing left out.

Labels per hour = labels delivered / simulated hours from the first round to the last delivery;
idle = the share of that time the vendor had no batch in hand. Writes
benchmarks/results/vendor_idle.{json,md}.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))

RESULTS = Path(__file__).parent / "results"
HOUR = 3600.0


def campaign(folder: Path, in_flight: int) -> Path:
    import yaml

    from alflow.operations.demo import write_demo_data

    path = write_demo_data(folder, bucket=None, max_labels=220, batch_size=20)
    raw = yaml.safe_load(path.read_text())
    raw["vendor"]["batches_in_flight"] = in_flight
    raw["stopping"] = {"metric": "accuracy"}  # the budget alone ends the campaign: both runs buy the same labels
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


class Vendor:
    """One labeler working one batch at a time, oldest first; idle, it looks at the bucket every `pickup` s."""

    def __init__(self, *, turnaround: float, pickup: float) -> None:
        self.turnaround, self.pickup = turnaround, pickup
        self.exported: list[tuple[float, int]] = []  # (when, round) of the batches not taken yet
        self.busy_until, self.busy = 0.0, 0.0

    def next_look(self, at: float) -> float:
        return -(-at // self.pickup) * self.pickup

    def take(self, now: float) -> int | None:
        """At `now`, with free hands, the oldest batch exported by then; the round it is for, or None."""
        if self.busy_until > now or not self.exported or self.exported[0][0] > now:
            return None
        _, round_ = self.exported.pop(0)
        self.busy_until = now + self.turnaround
        self.busy += self.turnaround
        return round_


def simulate(folder: Path, *, in_flight: int, turnaround: float, pickup: float, latency: float) -> dict:
    """One campaign to its budget; times in seconds of simulated time."""
    from alflow.config import load_campaign
    from alflow.ledger.ledger import campaign_state
    from alflow.operations.plain import plain_round

    from helpers import vendor_for

    config = load_campaign(campaign(folder, in_flight))
    answers = vendor_for(config, folder / "data" / "answers.csv")
    vendor = Vendor(turnaround=turnaround, pickup=pickup)
    events: list[tuple[float, int, str, int]] = []
    counter = iter(range(10**9))

    def at(when: float, kind: str, round_: int = 0) -> None:
        heapq.heappush(events, (when, next(counter), kind, round_))

    at(0.0, "round")
    at(HOUR, "cron")
    seconds: list[float] = []
    last_delivery, stopped = 0.0, False
    while events:
        now, _, kind, round_ = heapq.heappop(events)
        if kind == "delivered":
            answers.deliver(round_)
            last_delivery = now
            at(now + latency, "round")  # the watcher's event, the deployment's trigger
            kind = "look"  # done with one batch, the vendor looks for the next at once
        if kind == "look":
            if (taken := vendor.take(now)) is not None:
                at(vendor.busy_until, "delivered", taken)
            continue
        if kind == "cron" and not stopped:
            at(now + HOUR, "cron")
        if stopped:
            continue
        started = time.perf_counter()
        report = plain_round(config)
        seconds.append(time.perf_counter() - started)
        done = now + seconds[-1]
        if report.status == "stopped":
            stopped = True
        elif report.status == "exported":
            vendor.exported.append((done, report.round))
            at(done if vendor.busy_until > done else vendor.next_look(done), "look")
            state = campaign_state(config)
            if len(state.outstanding) < in_flight and state.labels_asked < config.budget.max_labels - 20:
                at(done + latency, "round")  # alflow.batch.wanted: room for another batch
    labels = len(campaign_state(config).human_labels())
    final = campaign_state(config).last
    assert final is not None and final.stop_reason == "budget_spent", final
    return {
        "in_flight": in_flight,
        "turnaround_min": turnaround / 60,
        "hours": last_delivery / HOUR,
        "labels": labels,
        "labels_per_hour": labels / (last_delivery / HOUR),
        "idle": 1 - vendor.busy / last_delivery,
        "rounds": len(seconds),
        "round_seconds_median": sorted(seconds)[len(seconds) // 2],
        "accuracy": final.metrics.get("accuracy"),
    }


def markdown(rows: list[dict], command: str, load: dict[str, str], pickup: float, latency: float) -> str:
    lines = [
        "# Vendor idle time: one batch in flight against three",
        "",
        f"Produced by `{command}` (its docstring says how). Digits, 20 seed labels, budget 220, batches of 20;",
        f"the vendor looks at the bucket every {pickup / 60:g} min when idle; a delivery starts a round "
        f"{latency:g} s later; rounds are real library calls (their seconds are in the table).",
        f"Load average (1, 5, 15 min): {load['start']} at the start, {load['end']} at the end.",
        "",
        "| turnaround per batch | batches in flight | labels per hour | vendor idle | hours to the budget "
        "| rounds run | round seconds (median) | final holdout accuracy |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['turnaround_min']:g} min | {r['in_flight']} | {r['labels_per_hour']:.1f} | {100 * r['idle']:.0f} % "
            f"| {r['hours']:.2f} | {r['rounds']} | {r['round_seconds_median']:.1f} | {r['accuracy']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turnaround", default="5,30", help="minutes per batch, comma-separated")
    parser.add_argument("--pickup", type=float, default=10, help="minutes between an idle vendor's looks")
    parser.add_argument("--latency", type=float, default=60, help="seconds from an event to its round")
    args = parser.parse_args()
    from conftest import _HOME  # noqa: F401 - the test environment: private PREFECT_HOME, no analytics

    load = {"start": ", ".join(f"{v:.2f}" for v in os.getloadavg())}
    rows = []
    for minutes in (float(m) for m in args.turnaround.split(",")):
        for in_flight in (1, 3):
            with tempfile.TemporaryDirectory(prefix="alflow-vendor-idle-") as tmp:
                row = simulate(
                    Path(tmp),
                    in_flight=in_flight,
                    turnaround=minutes * 60,
                    pickup=args.pickup * 60,
                    latency=args.latency,
                )
            rows.append(row)
            print(json.dumps(row), flush=True)
    load["end"] = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    command = (
        f"python benchmarks/vendor_idle.py --turnaround {args.turnaround} --pickup {args.pickup:g} "
        f"--latency {args.latency:g}"
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "vendor_idle.json").write_text(json.dumps({"command": command, "load": load, "rows": rows}, indent=1))
    text = markdown(rows, command, load, args.pickup * 60, args.latency)
    (RESULTS / "vendor_idle.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
