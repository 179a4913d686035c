"""Large deliveries: time and peak memory of ingesting one label file, by its number of rows.

    python benchmarks/ingest_large.py [--rows 100000,1000000,3000000] [--formats csv,jsonl,ground_truth]

The delivery of the issue that stalled a campaign: a few good labels among unknown ids (every
other row refused as `id_not_in_batch`), in a folder bucket whose round asked for 3 items. Each
(format, rows) pair runs in a fresh process that only ingests (the file is written beforehand):
wall time of `ingest_campaign`, the process's peak RSS (ru_maxrss) and its RSS before the ingest,
so the difference is what the ingest added. The accepted labels, the refused-row count and the
quarantine's line count (a sample: the first QUARANTINE_ROWS of each reason) are checked against
what was delivered. Writes
benchmarks/results/ingest_large.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from alflow.intake.ingest import QUARANTINE_ROWS

RESULTS = Path(__file__).parent / "results"
GOOD = {"item-1": "cat", "item-2": "dog"}  # the batch is item-1..item-3; item-3 gets no label


def delivery(fmt: str, rows: int) -> tuple[str, bytes]:
    """(file name, bytes): `rows` rows, the good ones first and last, unknown ids between."""
    unknown = rows - len(GOOD)
    if fmt == "csv":
        body = "".join(f"unknown-{i:08d},cat\n" for i in range(unknown))
        return "labels.csv", f"id,label\nitem-1,cat\n{body}item-2,dog\n".encode()
    if fmt == "jsonl":
        line = '{{"id": "{}", "label": "{}"}}\n'
        body = "".join(line.format(f"unknown-{i:08d}", "cat") for i in range(unknown))
        return "labels.jsonl", (line.format("item-1", "cat") + body + line.format("item-2", "dog")).encode()
    if fmt == "ground_truth":
        line = '{{"id": "{}", "label": 0, "label-metadata": {{"class-name": "{}", "human-annotated": "yes"}}}}\n'
        body = "".join(line.format(f"unknown-{i:08d}", "cat") for i in range(unknown))
        data = line.format("item-1", "cat") + body + line.format("item-2", "dog")
        return "job/manifests/output/output.manifest", data.encode()
    raise ValueError(fmt)


def _peak_mb() -> float:
    """The process's peak RSS (VmHWM): unlike ru_maxrss, not inherited from the parent across exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(folder: str, fmt: str) -> None:
    """In a fresh process: ingest the prepared delivery, print the figures as JSON."""
    from alflow.config import CampaignConfig
    from alflow.intake.ingest import ingest_campaign
    from alflow.ledger.ledger import Ledger

    config = CampaignConfig.model_validate(json.loads(Path(folder, "config.json").read_text()))
    Ledger.of(config).state()  # imports and a first listing, outside the timing
    before = _peak_mb()
    start = time.perf_counter()
    state = ingest_campaign(config)
    wall = time.perf_counter() - start
    peak = _peak_mb()
    [record] = state.ingests[1]
    copy = Ledger.of(config).store.read(record.quarantine) if record.quarantine else b""
    quarantined = copy.count(b"\n")
    figures = {"wall_s": wall, "rss_before_mb": before, "rss_peak_mb": peak}
    figures |= {"labels": state.ingested[1], "refused_rows": record.refused_rows, "quarantined_rows": quarantined}
    figures |= {"quarantine_bytes": len(copy)}
    figures |= {"record_bytes": len(record.to_json()), "votes": record.votes}
    print(json.dumps(figures))


def prepare(folder: Path, fmt: str, rows: int) -> int:
    from alflow.config import CampaignConfig
    from alflow.exchange import layout
    from alflow.ledger.ledger import Ledger, bucket
    from alflow.ledger.records import BatchRecord, RoundRecord

    raw = {
        "campaign": "large",
        "pool": {"uri": "pool.csv"},
        "seed_labels": {"uri": "seed.csv"},
        "classes": ["cat", "dog", "eel"],
        "budget": {"max_labels": 100},
        "vendor": {"bucket": str(folder / "bucket"), "format": fmt},
        "tracking": {"uri": "sqlite:///unused.db"},
    }
    (folder / "config.json").write_text(json.dumps(raw))
    config = CampaignConfig.model_validate(raw)
    store = bucket(config)
    ids = ["item-1", "item-2", "item-3"]
    batch = BatchRecord(ids=ids, scores=[1.0] * 3, predicted=["cat"] * 3)
    record = RoundRecord(round=1, labels_used=10, metrics={}, metric_source="holdout",
                         strategy="margin", model="m", stop_reason=None, batch=batch)  # fmt: skip
    Ledger(store, "large").record_round(record)
    name, data = delivery(fmt, rows)
    prefix = layout.delivery_prefix("large", 1)
    store.write_once(prefix + name, data)
    store.write_once(prefix + layout.DONE, b"")
    return len(data)


def run(fmt: str, rows: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        size = prepare(Path(tmp), fmt, rows)
        done = subprocess.run(
            [sys.executable, __file__, "--child", tmp, "--formats", fmt], capture_output=True, text=True, check=True
        )
        figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["labels"] == GOOD, figures["labels"]
    assert figures["refused_rows"] == rows - len(GOOD)
    assert figures["quarantined_rows"] == min(rows - len(GOOD), QUARANTINE_ROWS)  # a sample, not a copy
    return {"format": fmt, "rows": rows, "file_mb": size / 2**20, **figures}


def table(results: list[dict], load: tuple[tuple[float, ...], tuple[float, ...]]) -> str:
    lines = [
        "# Ingesting one large delivery",
        "",
        "Produced by `python benchmarks/ingest_large.py "
        f"--rows {','.join(str(r) for r in sorted({x['rows'] for x in results}))} "
        f"--formats {','.join(dict.fromkeys(x['format'] for x in results))}`. One delivery file per run: 2 good "
        "labels among unknown ids (each refused as `id_not_in_batch`; the quarantine keeps the first "
        f"{QUARANTINE_ROWS:,} of each reason and the record counts them all), in a folder "
        "bucket whose round asked for 3 items; a fresh process per run that only ingests. Peak RSS is the "
        "process's maximum (VmHWM); `added` is peak less the peak before the ingest (after imports and a "
        "first listing).",
        "",
        f"Load average (1, 5, 15 min) at the start {load[0]}, at the end {load[1]}: the machine's 2 cores are "
        "shared with other work, so times are upper bounds.",
        "",
        "| format | rows | file MB | seconds | rows/s | peak RSS MB | added MB | refused rows | record KB "
        "| quarantine KB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['format']} | {r['rows']:,} | {r['file_mb']:.1f} | {r['wall_s']:.1f} "
            f"| {r['rows'] / r['wall_s']:,.0f} | {r['rss_peak_mb']:.0f} "
            f"| {r['rss_peak_mb'] - r['rss_before_mb']:.0f} | {r['refused_rows']:,} "
            f"| {r['record_bytes'] / 1024:.0f} | {r['quarantine_bytes'] / 1024:.0f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="100000,1000000,3000000")
    parser.add_argument("--formats", default="csv,jsonl,ground_truth")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.formats)
        return
    start_load = os.getloadavg()
    results = []
    for fmt in args.formats.split(","):
        for rows in (int(r) for r in args.rows.split(",")):
            results.append(run(fmt, rows))
            print(f"{fmt} {rows:,} rows: {results[-1]['wall_s']:.1f} s, peak {results[-1]['rss_peak_mb']:.0f} MB")
    load = (tuple(round(x, 2) for x in start_load), tuple(round(x, 2) for x in os.getloadavg()))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ingest_large.json").write_text(json.dumps({"load": load, "results": results}, indent=1))
    (RESULTS / "ingest_large.md").write_text(table(results, load))
    print((RESULTS / "ingest_large.md").read_text())


if __name__ == "__main__":
    main()
