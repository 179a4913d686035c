"""Whether a warm round's scoring is slower than the first round's because of the pool's pages in the OS cache.

    python benchmarks/warm_scoring.py [--pool 1000000] [--pairs 2] [--out warm_scoring]

The campaign is benchmarks/round_overhead.py's (a Parquet pool, strategy auto, batch 100). Round 1
runs once in a fresh process; its stages are timed. Its validation reads the pool's id and feature
columns, so the pool's pages are in the OS page cache when its scoring (select_batch) reads the pool
again. A warm round finds its inputs validated at these versions (`checks/inputs-<digest>.json`) and
skips that read: its scoring is the first reader of the pool in the round, and would pay the disk
read if the pool's pages left the cache meanwhile (a shared machine, a pool larger than what the
cache keeps). That is the hypothesis under test: round 2 runs from the same state `--pairs` times
each way, in fresh processes, each in a copy of round 1's folder whose data/ is round 1's own
(`round_overhead.copy_template`: a copied file would have another version, its inode and ctime, and
round 2 would validate it again; a round 2 that did stops the run), the ways interleaved: `cached`
(the pool file read once just before) and `evicted` (the file's pages dropped from the cache just
before, with posix_fadvise on that file alone). Per round: the seconds of open_round (validation)
and select_batch (scoring), the latter's user and system CPU seconds and minor page faults, and the
pool's megabytes in the OS page cache before and after the round (fincore). Writes
benchmarks/results/warm_scoring.{json,md} (`--out NAME`: NAME.{json,md}).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import round_overhead
import served_overhead

RESULTS = Path(__file__).parent / "results"

ROUND = f"""
import json, resource, sys, time
from pathlib import Path
sys.path.insert(0, {str(Path(__file__).parent)!r})
import served_overhead
from alflow.operations.plain import plain_round
from alflow.round import opening, select
seconds = {{}}
def timed(module, name):
    real = getattr(module, name)
    def run(*args, **kwargs):
        started, usage = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
        try:
            return real(*args, **kwargs)
        finally:
            seconds[name] = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_SELF)
            seconds[name + "_user"] = after.ru_utime - usage.ru_utime
            seconds[name + "_system"] = after.ru_stime - usage.ru_stime
            seconds[name + "_faults"] = after.ru_minflt - usage.ru_minflt
    setattr(module, name, run)
timed(opening, "open_round")
timed(select, "select_batch")
report = plain_round("campaign.yaml")
assert report.status == "exported", report.message()
served_overhead.vendor(Path(".")).deliver(report.round)
print(json.dumps(seconds))
"""


def _pool_pages(path: Path, *, evict: bool) -> None:
    """Drop `path`'s pages from the OS page cache, or read it once so that they are there."""
    if not evict:
        with path.open("rb") as file:
            while file.read(1 << 24):
                pass
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _resident_mb(path: Path) -> float | None:
    """How much of `path` is in the OS page cache (util-linux's fincore), or None without it."""
    if not shutil.which("fincore"):
        return None
    done = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES", str(path)], capture_output=True)
    return int(done.stdout) / 1e6 if done.returncode == 0 else None


def one_round(folder: Path) -> dict[str, float | None]:
    """The round's stage seconds, the load after it and the pool's megabytes in the cache before and after it."""
    env = {**os.environ, **served_overhead.ENV}
    pool = folder / "data" / "pool.parquet"
    before = _resident_mb(pool)
    done = subprocess.run([sys.executable, "-c", ROUND], cwd=folder, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(done.stderr[-3000:])
    seconds = json.loads(done.stdout.splitlines()[-1])
    return {**seconds, "load": os.getloadavg()[0], "cached_mb_before": before, "cached_mb_after": _resident_mb(pool)}


def _checks(folder: Path) -> list[str]:
    """The input checks recorded in the campaign's bucket (a round that validated adds one)."""
    return sorted(path.name for path in (folder / "bucket").rglob("inputs-*.json"))


def markdown(result: dict) -> str:
    lines = [
        "# Scoring in a warm round against the first: the pool's pages in the OS cache",
        "",
        f"`{result['command']}` on {result['date']}: pool {result['pool']:,} rows (Parquet, "
        f"{result['pool_mb']:.0f} MB), strategy auto, batch 100; every round a fresh process (docstring). "
        f"Load average (1, 5, 15 min) {result['load']['start']} at the start, {result['load']['end']} at the "
        "end (2 cores shared with other engineers' work).",
        "",
        "Round 2 found its inputs checked by round 1 every time (it records no input check of its own: the "
        "run stops otherwise), so its scoring is the round's first reader of the pool. The pool's MB in the "
        "OS page cache just before and just after each round are fincore's (util-linux).",
        "",
        "| round | pool pages before the round | open_round s (validation) | select_batch s (scoring) "
        "| select_batch user / system CPU s | select_batch minor page faults (thousands) "
        "| pool MB cached before / after | load (1 min) |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def row(run: dict) -> str:
        cached = " / ".join(
            "-" if run.get(k) is None else f"{run[k]:.0f}" for k in ("cached_mb_before", "cached_mb_after")
        )
        cpu = " / ".join(
            "-" if run.get(k) is None else f"{run[k]:.2f}" for k in ("select_batch_user", "select_batch_system")
        )
        faults = "-" if run.get("select_batch_faults") is None else f"{run['select_batch_faults'] / 1e3:.0f}"
        return (
            f"{run['open_round']:.2f} | {run['select_batch']:.2f} | {cpu} | {faults} | {cached} | {run['load']:.1f} |"
        )

    first = result["round 1"]
    lines.append(f"| 1 | (validation reads them) | {row(first)}")
    for way in ("cached", "evicted"):
        for run in result[way]:
            lines.append(f"| 2 | {way} | {row(run)}")
    median = {w: statistics.median(r["select_batch"] for r in result[w]) for w in ("cached", "evicted")}
    lines += [
        "",
        f"Median select_batch of round 2: cached {median['cached']:.2f} s, evicted {median['evicted']:.2f} s "
        f"(evicted − cached {median['evicted'] - median['cached']:+.2f} s); round 1's: {first['select_batch']:.2f} s.",
    ]
    return "\n".join(lines) + "\n"


def rewrite(name: str = "warm_scoring") -> None:
    """The table again from the committed JSON (after a change of its wording)."""
    (RESULTS / f"{name}.md").write_text(markdown(json.loads((RESULTS / f"{name}.json").read_text())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=int, default=1_000_000)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--out", default="warm_scoring")
    args = parser.parse_args()
    load = {"start": ", ".join(f"{v:.2f}" for v in os.getloadavg())}
    result: dict = {"pool": args.pool, "date": datetime.now(UTC).isoformat(timespec="seconds")}
    result |= {"cached": [], "evicted": []}
    with tempfile.TemporaryDirectory(prefix="alflow-warm-scoring-") as tmp:
        template = Path(tmp) / "template"
        round_overhead.write_campaign(template, args.pool)
        result["pool_mb"] = (template / "data" / "pool.parquet").stat().st_size / 1e6
        result["round 1"] = one_round(template)
        for _ in range(args.pairs):
            for way in ("cached", "evicted"):
                folder = Path(tmp) / "run"
                round_overhead.copy_template(template, folder)
                _pool_pages(folder / "data" / "pool.parquet", evict=way == "evicted")
                result[way].append(one_round(folder))
                if _checks(folder) != _checks(template):
                    sys.exit(f"round 2 validated its inputs again ({way}): not a warm round")
                print(way, result[way][-1], flush=True)
    load["end"] = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    result["load"] = load
    out = "" if args.out == "warm_scoring" else f" --out {args.out}"
    result["command"] = f"python benchmarks/warm_scoring.py --pool {args.pool} --pairs {args.pairs}{out}"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps(result, indent=1))
    text = markdown(result)
    (RESULTS / f"{args.out}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
