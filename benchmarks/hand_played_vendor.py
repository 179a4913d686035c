"""A vendor played by hand in every exchange format, for campaigns of tags and of numbers (issue 21).

Builds two campaigns a new user would write from `alflow init`'s template and docs/LABELS.md (no
download): tags, scikit-learn's `make_multilabel_classification` as a table with string ids and 12
tag names with spaces and accents (`Zürich office`, `日本語 support`), two rare, the empty set
allowed; numbers, scikit-learn's diabetes with string ids, bounds [-100, 400] and a unit (and a
rating campaign of 1 to 5 stars). For each format each kind supports (docs/VENDORS.md), `alflow
round` exports a batch; this script reads it as the tool would get it (items.csv, items.jsonl, a
Ground Truth input manifest, Label Studio's tasks.json and label_config.xml, doccano's items.jsonl,
Labelbox's data_rows.json), writes the answers as the tool writes them (from each tool's
documentation: a Label Studio JSON export, a Ground Truth multi-label output manifest with its
class map in the job's own category order, doccano's per-annotator JSONL export, Labelbox's export
v2 NDJSON whose options carry a value other than their name), delivers them with `_DONE` last,
and runs the next round. Round 1 holds awkward but valid answers, round 2 bad ones (one of each
kind of bad label), then a corrected file sent after `_DONE` (read by round 3); two more campaigns
have several annotators (numbers: median, spread, max_spread's send-back; tags: a tie).

It writes benchmarks/results/hand_played_vendor.md: per campaign and case, what alflow did with
each item (taken, with its label; refused, with its reason and detail). The work folder holds the
buckets; the script starts alflow's local Prefect server in it and stops it at the end.

    python benchmarks/hand_played_vendor.py [--work DIR]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time
import unicodedata
import xml.etree.ElementTree as ET
import zlib
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import yaml

REPO = pathlib.Path(__file__).resolve().parent.parent
ALFLOW = [sys.executable, "-c", "import sys; from cli import app; sys.exit(app())"]
TAGS = ["data privacy", "Zürich office", "légal risk", "billing", "outage", "security", "feature request",
        "praise", "naïve bug", "日本語 support", "rare tag A", "rare tag B"]  # fmt: skip


def make_data() -> None:
    """The pools, seed labels, holdouts and answer keys under data/ (a package's data, no download)."""
    from sklearn.datasets import load_diabetes, make_multilabel_classification

    rng = np.random.default_rng(7)
    pathlib.Path("data").mkdir(exist_ok=True)
    X, Y = make_multilabel_classification(
        n_samples=1400, n_features=30, n_classes=12, n_labels=2, allow_unlabeled=True, random_state=3
    )
    for j in (10, 11):  # two rare tags
        on = np.flatnonzero(Y[:, j])
        Y[on[len(on) // 8 :], j] = 0
    ids = [f"doc-{i:05d}" for i in range(len(X))]
    frame = pd.DataFrame(X, columns=[f"w{j}" for j in range(30)])
    frame.insert(0, "id", ids)
    labels = pd.DataFrame({"id": ids, "label": [";".join(TAGS[j] for j in range(12) if r[j]) or "[]" for r in Y]})
    perm = rng.permutation(len(frame))
    seed, hold, pool = perm[:30], perm[30:330], perm[np.r_[0:30, 330 : len(perm)]]
    frame.iloc[pool].to_csv("data/ml_pool.csv", index=False)
    labels.iloc[seed].to_csv("data/ml_seed.csv", index=False)
    frame.iloc[hold].merge(labels).to_csv("data/ml_holdout.csv", index=False)
    labels.to_csv("data/ml_key.csv", index=False)
    d = load_diabetes(as_frame=True).frame
    ids = [f"patient-{i:04d}" for i in range(len(d))]
    d.insert(0, "id", ids)
    y = d.pop("target")
    perm = rng.permutation(len(d))
    seed, hold, pool = perm[:20], perm[20:120], perm[np.r_[0:20, 120 : len(perm)]]
    d.iloc[pool].to_csv("data/num_pool.csv", index=False)
    pd.DataFrame({"id": np.array(ids)[seed], "label": y.iloc[seed].values}).to_csv("data/num_seed.csv", index=False)
    d.iloc[hold].assign(label=y.iloc[hold].values).to_csv("data/num_holdout.csv", index=False)
    pd.DataFrame({"id": ids, "label": y.values}).to_csv("data/num_key.csv", index=False)
    for part in ("seed", "holdout"):  # the same items rated 1 to 5 stars
        r = pd.read_csv(f"data/num_{part}.csv")
        r["label"] = np.clip(np.round(r["label"] / 70), 1, 5).astype(int)
        r.to_csv(f"data/numr_{part}.csv", index=False)


def campaign(template: str, kind: str, fmt: str, extra: str = "", **vendor: str) -> str:
    """A campaign file as a user edits `alflow init`'s template (uncommenting and filling its lines)."""
    name = f"{kind}-{fmt.replace('_', '-')}{extra}"
    t = template.replace("campaign: tags ", f"campaign: {name} ")
    pre = "ml" if kind == "multi" else ("numr" if extra == "-rating" else "num")
    pool = "ml" if kind == "multi" else "num"
    t = t.replace("uri: data/pool.csv", f"uri: data/{pool}_pool.csv").replace(
        "uri: data/seed.csv", f"uri: data/{pre}_seed.csv"
    )
    t = t.replace("# holdout:                       # optional", "holdout:                       # optional")
    t = t.replace("#   uri: data/holdout.csv        # without", f"  uri: data/{pre}_holdout.csv        # without")
    t = t.replace("#   label_column: label\n", "  label_column: label\n", 1)
    t = t.replace("# labels:                        #", "labels:                        #")
    if kind == "multi":
        t = t.replace("classes: [negative, positive]", "classes: " + json.dumps(TAGS, ensure_ascii=False))
        t = t.replace("#   kind: class  ", "  kind: multi  ").replace("#   allow_empty: false", "  allow_empty: true ")
    else:
        t = t.replace("classes: [negative, positive]", "").replace("#   kind: class  ", "  kind: number ")
        low, high = ("1", "5") if extra == "-rating" else ("-100", "400")
        t = (
            t.replace("#   min: 0  ", f"  min: {low}")
            .replace("#   max: 10  ", f"  max: {high}")
            .replace("#   unit: points", "  unit: points")
        )
        if extra == "-rating":
            t = t.replace("#   input: number", "  input: rating")
    t = t.replace("bucket: bucket ", f"bucket: bucket-{name} ").replace("format: csv ", f"format: {fmt} ")
    t = t.replace("batch_size: 20", "batch_size: 10").replace(
        "uri: sqlite:///mlflow.db", f"uri: sqlite:///mlflow-{name}.db"
    )
    for key, value in vendor.items():
        t = t.replace(f"  # {key}: ", f"  {key}: {value} # ", 1)
    pathlib.Path(f"{name}.yaml").write_text(t, encoding="utf-8")
    return name


def play(cfg_path: str, rnd: int, scen: str) -> dict:
    """Read round `rnd`'s batch as the tool gets it, answer as the tool writes (scenario `scen`), deliver."""
    cfg = yaml.safe_load(open(cfg_path))
    name, fmt, kind = cfg["campaign"], cfg["vendor"]["format"], cfg["labels"]["kind"]
    root = pathlib.Path(cfg["vendor"]["bucket"]) / name
    batch = root / "batches" / f"round-{rnd:04d}"
    out = root / "deliveries" / f"round-{rnd:04d}"
    out.mkdir(parents=True, exist_ok=True)
    key = (
        pd.read_csv("data/ml_key.csv" if kind == "multi" else "data/num_key.csv", dtype=str)
        .set_index("id")["label"]
        .to_dict()
    )
    classes = cfg.get("classes") or []
    rating = cfg["labels"].get("input") == "rating"

    # 1. read the batch as the tool would
    if fmt in ("csv",):
        ids = pd.read_csv(batch / "items.csv", dtype={"id": str})["id"].tolist()
    elif fmt == "jsonl":
        ids = [json.loads(line)["id"] for line in open(batch / "items.jsonl", encoding="utf-8")]
    elif fmt == "ground_truth":
        lines = [json.loads(line) for line in open(batch / "input.manifest", encoding="utf-8")]
        ids = [line["id"] for line in lines]
    elif fmt == "label_studio":
        tasks = json.load(open(batch / "tasks.json", encoding="utf-8"))
        conf = ET.fromstring(open(batch / "label_config.xml", encoding="utf-8").read())
        control = next(e for e in conf if e.tag in ("Choices", "Number", "Rating"))
        from_name, to_name = control.get("name"), control.get("toName")
        ids = [t["data"]["id"] for t in tasks]
    elif fmt == "doccano":
        examples = [json.loads(line) for line in open(batch / "items.jsonl", encoding="utf-8")]
        ids = [e["alflow_id"] for e in examples]
    elif fmt == "labelbox":
        rows = json.load(open(batch / "data_rows.json", encoding="utf-8"))
        ids = [r["global_key"] for r in rows]

    def truth(i):
        v = key[i]
        if kind == "multi":
            return [] if v == "[]" else v.split(";")
        x = float(v)
        if rating:
            return max(1, min(5, round(x / 70)))
        return x

    # 2. the answers: per item a list of (annotator, answer) where answer is tags list / number / raw
    votes = {i: [("ann1", truth(i))] for i in ids}
    notes = {}
    if scen == "awkward":
        a, b, c = ids[0], ids[1], ids[2]
        if kind == "multi":
            t = truth(a)
            votes[a] = [("ann1", list(reversed(t)) + t[:1])]  # reversed order, a tag twice
            notes[a] = "tags reversed, one given twice"
            # disagreement: 3 annotators
            votes[b] = [
                ("ann1", truth(b)),
                ("ann2", truth(b)),
                ("ann3", [*truth(b), "praise"] if "praise" not in truth(b) else [x for x in truth(b) if x != "praise"]),
            ]
            notes[b] = "3 annotators, one differs on 'praise' (2 of 3 win)"
        else:
            votes[a] = [("ann1", "RAW:" + ("4" if rating else f"{truth(a):.2f}0"))]  # "151.000" as text
            notes[a] = "number as text with trailing zeros"
            votes[b] = [
                ("ann1", truth(b)),
                ("ann2", truth(b) + (1 if rating else 2)),
                ("ann3", truth(b) - (1 if rating else 3)),
            ]
            notes[b] = "3 annotators spread -> median"
            votes[c] = [("ann1", "RAW:-2")] if not rating else votes[c]
            notes[c] = "negative number -2 (valid: min -100)" if not rating else ""
    elif scen == "votes":
        if kind == "number":
            for i in ids:
                votes[i] = [("ann1", truth(i)), ("ann2", truth(i)), ("ann3", truth(i))]
            a, b, c, d = ids[:4]
            votes[a] = [("ann1", truth(a)), ("ann2", truth(a) + 5), ("ann3", truth(a) - 3)]
            notes[a] = "spread 8 <= 20: median"
            votes[b] = [("ann1", truth(b)), ("ann2", truth(b) + 50), ("ann3", truth(b))]
            notes[b] = "spread 50 > 20: sent back"
            votes[c] = [("ann1", truth(c)), ("ann2", truth(c))]
            notes[c] = "2 of 3 votes: too few"
            votes[d] = [("ann1", truth(d)), ("ann1", truth(d) + 1), ("ann2", truth(d)), ("ann3", truth(d))]
            notes[d] = "ann1 twice: duplicate vote"
        else:
            for i in ids:
                votes[i] = [("ann1", truth(i)), ("ann2", truth(i))]
            a, b = ids[:2]
            votes[a] = [("ann1", ["billing", "outage"]), ("ann2", ["billing"])]
            notes[a] = "outage 1 of 2: tie -> outstanding"
            votes[b] = [("ann1", []), ("ann2", [])]
            notes[b] = "both none: []"
    elif scen == "bad":
        bad = ids[:6]
        if kind == "multi":
            plan = [
                ("RAWTAGS:not a tag", "tag outside the set"),
                ("RAWTAGS:3", "tag by index 3"),
                ("RAWTAGS:" + unicodedata.normalize("NFD", "Zürich office"), "NFD spelling of Zürich office"),
                ("RAWTAGS:", "empty set (allowed here)"),
                ("MALFORMED", "malformed line"),
                ("RAWTAGS:zürich office", "wrong case"),
            ]
        else:
            plan = [
                ("RAW:3,5", "comma decimal"),
                ("RAW:NaN", "NaN"),
                ("RAW:inf", "inf"),
                ("RAW:about three", "text"),
                ("LIST", "a list where a number is expected"),
                ("RAW:99999", "out of bounds"),
            ]
        for i, (ans, why) in zip(bad, plan, strict=False):
            votes[i] = [("ann1", ans)]
            notes[i] = why

    # 3. write as the tool writes
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["id", "label", "annotator"])
        lines = []
        for i, vs in votes.items():
            for who, ans in vs:
                if ans == "MALFORMED":
                    buf.write(f"{i},a,b,c,d\n")
                    continue
                if ans == "LIST":
                    cell = "[3.5, 4]"
                elif isinstance(ans, str) and ans.startswith("RAW"):
                    cell = ans.split(":", 1)[1] or "[]"
                elif kind == "multi":
                    cell = " ; ".join(ans) if ans else "[]"
                else:
                    cell = ans
                w.writerow([i, cell, who])
        (out / ("labels-fix.csv" if scen == "again" else "labels.csv")).write_text(buf.getvalue(), encoding="utf-8")
    elif fmt == "jsonl":
        text = ""
        for i, vs in votes.items():
            for who, ans in vs:
                if ans == "MALFORMED":
                    text += f'{{"id": "{i}", "label": [' + "\n"
                    continue
                if ans == "LIST":
                    lab = [3.5]
                elif isinstance(ans, str) and ans.startswith("RAWTAGS"):
                    v = ans.split(":", 1)[1]
                    lab = [int(v)] if v.isdigit() else ([v] if v else [])
                elif ans == "RAW:NaN":
                    text += f'{{"id": "{i}", "label": NaN, "annotator": "{who}"}}\n'
                    continue
                elif isinstance(ans, str) and ans.startswith("RAW"):
                    lab = ans.split(":", 1)[1]
                else:
                    lab = ans
                text += json.dumps({"id": i, "label": lab, "annotator": who}, ensure_ascii=False) + "\n"
        (out / ("labels-fix.jsonl" if scen == "again" else "labels.jsonl")).write_text(text, encoding="utf-8")
    elif fmt == "ground_truth":
        # the job's categories, in the order the person typed them into the console: sorted, not the campaign's
        cats = sorted(classes)
        res = []
        for line in lines:
            i = line["id"]
            ((who, ans),) = votes[i][:1]
            o = dict(line)
            if ans == "MALFORMED":
                res.append(None)
                continue
            if isinstance(ans, str) and ans.startswith("RAWTAGS"):
                v = ans.split(":", 1)[1]
                idx = [99] if v == "3" else ([] if not v else None)
                if idx is None:
                    o["tags-job"] = [0]
                    cmap = {"0": v}
                else:
                    o["tags-job"] = idx
                    cmap = {}
            else:
                idx = [cats.index(t) for t in ans]
                o["tags-job"] = idx
                cmap = {str(k): cats[k] for k in idx}
            o["tags-job-metadata"] = {
                "job-name": "labeling-job/tags-job",
                "class-map": cmap,
                "human-annotated": "yes",
                "creation-date": "2026-12-07T18:00:00.000000",
                "confidence-map": {k: 0.91 for k in cmap},
                "type": "groundtruth/text-classification-multilabel",
            }
            res.append(o)
        p = out / ("tags-job-fix" if scen == "again" else "tags-job") / "manifests" / "output"
        p.mkdir(parents=True, exist_ok=True)
        (p / "output.manifest").write_text(
            "".join(('{"source": broken\n' if o is None else json.dumps(o, ensure_ascii=False) + "\n") for o in res),
            encoding="utf-8",
        )
    elif fmt == "label_studio":
        export = []
        aid = 100 * rnd
        for n, t in enumerate(tasks, start=1):
            i = t["data"]["id"]
            anns = []
            for who, ans in votes[i]:
                aid += 1
                if ans == "MALFORMED":
                    anns.append({"id": aid, "result": "oops"})
                    continue
                if kind == "multi":
                    if isinstance(ans, str):
                        v = ans.split(":", 1)[1]
                        ch = [v] if v else []
                    else:
                        ch = ans
                    result = (
                        [
                            {
                                "id": f"r{aid}",
                                "from_name": from_name,
                                "to_name": to_name,
                                "type": "choices",
                                "value": {"choices": ch},
                                "origin": "manual",
                            }
                        ]
                        if ch
                        else []
                    )
                else:
                    typ = "rating" if rating else "number"
                    if ans == "LIST":
                        val = [3.5]
                    elif isinstance(ans, str):
                        v = ans.split(":", 1)[1]
                        try:
                            val = float(v) if v not in ("3,5", "NaN", "inf") else v
                        except ValueError:
                            val = v
                    else:
                        val = ans
                    result = [
                        {
                            "id": f"r{aid}",
                            "from_name": from_name,
                            "to_name": to_name,
                            "type": typ,
                            "value": {typ: val},
                            "origin": "manual",
                        }
                    ]
                anns.append(
                    {
                        "id": aid,
                        "completed_by": {"ann1": 1, "ann2": 2, "ann3": 3}[who],
                        "result": result,
                        "was_cancelled": False,
                        "ground_truth": False,
                        "created_at": "2026-12-07T18:00:00.000000Z",
                        "updated_at": "2026-12-07T18:00:00.000000Z",
                        "lead_time": 4.2,
                        "prediction": {},
                        "result_count": len(result),
                        "task": 1000 + n,
                        "project": 7,
                    }
                )
            export.append(
                {
                    "id": 1000 + n,
                    "annotations": anns,
                    "drafts": [],
                    "predictions": [],
                    "data": t["data"],
                    "meta": {},
                    "created_at": "2026-12-07T17:00:00.000000Z",
                    "updated_at": "2026-12-07T18:00:00.000000Z",
                    "inner_id": n,
                    "total_annotations": len(anns),
                    "cancelled_annotations": 0,
                    "project": 7,
                }
            )
        (
            out
            / (
                "project-7-at-2026-12-07-19-00-fix.json"
                if scen == "again"
                else "project-7-at-2026-12-07-18-00-abcdef12.json"
            )
        ).write_text(json.dumps(export, ensure_ascii=False, indent=2), encoding="utf-8")
    elif fmt == "doccano":
        files = {}
        for n, e in enumerate(examples, start=1):
            i = e["alflow_id"]
            for who, ans in votes[i]:
                if ans == "MALFORMED":
                    files.setdefault(who, []).append(f'{{"id": {n}, "text": \n')
                    continue
                if kind == "multi":
                    if isinstance(ans, str):
                        v = ans.split(":", 1)[1]
                        lab = [v] if v else []
                    else:
                        lab = ans
                else:
                    if ans == "LIST":
                        lab = ["3.5", "4"]
                    elif isinstance(ans, str):
                        lab = [ans.split(":", 1)[1]]
                    else:
                        lab = [(f"{ans:g}")]
                o = {
                    "id": n,
                    "text": e["text"],
                    "alflow_id": i,
                    "alflow_score": e["alflow_score"],
                    "alflow_predicted": e["alflow_predicted"],
                    "alflow_model": e["alflow_model"],
                    "label": lab,
                    "Comments": [],
                }
                files.setdefault(who, []).append(json.dumps(o, ensure_ascii=False) + "\n")
        for who, ls in files.items():
            (out / f"{who}.jsonl").write_text("".join(ls), encoding="utf-8")
    elif fmt == "labelbox":
        text = ""

        def opt(t):
            return {
                "feature_id": "f-" + str(zlib.crc32(t.encode()) % 1000),
                "name": t,
                "value": t.lower().replace(" ", "_"),
                "classifications": [],
            }

        for n, r in enumerate(rows, start=1):
            i = r["global_key"]
            labels = []
            for k, (who, ans) in enumerate(votes[i]):
                if ans == "MALFORMED":
                    labels.append({"id": f"lb-{n}-{k}", "annotations": "broken"})
                    continue
                if kind == "multi":
                    if isinstance(ans, str):
                        v = ans.split(":", 1)[1]
                        ch = [v] if v else []
                    else:
                        ch = ans
                    cls = (
                        [
                            {
                                "feature_id": "q1",
                                "name": "label",
                                "value": "label",
                                "checklist_answers": [opt(t) for t in ch],
                            }
                        ]
                        if ch
                        else []
                    )
                else:
                    if rating and ans == "LIST":
                        ans = "RAW:3.5, 4"
                    if rating:
                        cls = [
                            {
                                "feature_id": "q1",
                                "name": "label",
                                "value": "label",
                                "radio_answer": {
                                    "name": f"{ans} stars" if not isinstance(ans, str) else ans.split(":", 1)[1],
                                    "value": str(ans) if not isinstance(ans, str) else ans.split(":", 1)[1],
                                    "classifications": [],
                                },
                            }
                        ]
                    else:
                        content = (
                            "3.5, 4"
                            if ans == "LIST"
                            else (ans.split(":", 1)[1] if isinstance(ans, str) else f"{ans:g}")
                        )
                        cls = [
                            {"feature_id": "q1", "name": "label", "value": "label", "text_answer": {"content": content}}
                        ]
                labels.append(
                    {
                        "id": f"lb-{n}-{k}",
                        "label_kind": "Default",
                        "version": 1,
                        "label_details": {
                            "created_at": "2026-12-07T18:00:00+00:00",
                            "updated_at": "2026-12-07T18:00:00+00:00",
                            "created_by": f"{who}@vendor.example",
                            "content_last_updated_at": "2026-12-07T18:00:00+00:00",
                            "reviews": [],
                        },
                        "performance_details": {"seconds_to_create": 5.0, "seconds_to_review": 0, "skipped": False},
                        "annotations": {"objects": [], "classifications": cls, "relationships": []},
                    }
                )
            text += (
                json.dumps(
                    {
                        "data_row": {"id": f"dr{n}", "global_key": i, "row_data": r["row_data"], "details": {}},
                        "media_attributes": {"mime_type": "text/plain"},
                        "attachments": [],
                        "projects": {"clp-1": {"name": name, "labels": labels, "project_details": {}}},
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )
        (out / ("export-2026-12-07-fix.ndjson" if scen == "again" else "export-2026-12-07.ndjson")).write_text(
            text, encoding="utf-8"
        )

    if scen != "again":
        (out / "_DONE").write_text("")
    return {"ids": ids, "notes": notes, "truth": {i: truth(i) for i in ids}}


def outcome(name: str, rnd: int, played: dict, classes: list[str]) -> list[dict]:
    """What alflow did with each item of round `rnd`'s batch, from the ledger's ingest records."""
    root = pathlib.Path(f"bucket-{name}") / name
    got: dict[str, list[str]] = {}
    refused: list[tuple] = []
    for path in sorted((root / "ledger").glob("round-*/ingest-*.json")):
        record = json.loads(path.read_text())
        if f"deliveries/round-{rnd:04d}/" not in record.get("file", ""):
            continue
        for item, label in (record.get("labels") or {}).items():
            got.setdefault(item, []).append(label)
        for row in record.get("rejected") or []:
            refused.append((row.get("id"), row.get("reason"), row.get("label"), row.get("detail")))
    rows = []
    for item in played["ids"]:
        truth = played["truth"][item]
        spelled = (";".join(c for c in classes if c in truth) or "[]") if isinstance(truth, list) else truth
        mine = [r for r in refused if r[0] == item]
        taken = got.get(item, [])
        result = (
            (f"taken once: `{taken[0]}`" if len(taken) == 1 else f"TAKEN {len(taken)} TIMES")
            if taken
            else "outstanding"
        )
        if mine:
            result += "; refused: " + "; ".join(
                f"`{r[1]}` ({r[2]!r}{', ' + r[3] if r[3] else ''})" for r in dict.fromkeys(mine)
            )
        rows.append({"item": item, "case": played["notes"].get(item) or "plain", "truth": spelled, "result": result})
    anonymous = [r for r in refused if r[0] is None]
    for r in dict.fromkeys(anonymous):
        rows.append({"item": "(no id)", "case": "malformed line", "truth": "", "result": f"refused: `{r[1]}` ({r[3]})"})
    return rows


def round_(name: str, log: list[str]) -> str:
    run = subprocess.run([*ALFLOW, "round", f"{name}.yaml"], capture_output=True, text=True, cwd=os.getcwd(),
                         env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
    line = (run.stdout.strip().splitlines() or ["(no output)"])[-1]
    red = [e for e in run.stderr.splitlines() if e.startswith("error") or "Traceback" in e]
    log.append(f"{name}: exit {run.returncode}: {line}" + (f" | stderr: {red[0]}" if red else ""))
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=pathlib.Path, default=None, help="work folder (default: a temporary one)")
    args = parser.parse_args()
    work = args.work or pathlib.Path(tempfile.mkdtemp(prefix="alflow-hand-played-"))
    work.mkdir(parents=True, exist_ok=True)
    os.chdir(work)
    os.environ["PREFECT_HOME"] = str(work / "prefect")
    started, load = time.time(), os.getloadavg()[0]
    make_data()
    subprocess.run([*ALFLOW, "init", "tags", "--path", "tags.yaml"], check=True, capture_output=True,
                   env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
    template = pathlib.Path("tags.yaml").read_text(encoding="utf-8")
    plain = [
        campaign(template, "multi", f) for f in ("csv", "jsonl", "ground_truth", "label_studio", "doccano", "labelbox")
    ]
    plain += [campaign(template, "number", f) for f in ("csv", "jsonl", "label_studio", "doccano", "labelbox")]
    plain += [campaign(template, "number", f, "-rating") for f in ("label_studio", "labelbox")]
    votes = [campaign(template, "number", "csv", "-votes", annotators="3", max_spread="20"),
             campaign(template, "multi", "label_studio", "-votes", annotators="2")]  # fmt: skip
    log: list[str] = []
    sections: list[tuple[str, int, str, list[dict]]] = []
    try:
        for name in plain + votes:
            round_(name, log)
        for name in votes:
            cfg = yaml.safe_load(pathlib.Path(f"{name}.yaml").read_text(encoding="utf-8"))
            played = play(f"{name}.yaml", 1, "votes")
            round_(name, log)
            sections.append((name, 1, "votes", outcome(name, 1, played, cfg.get("classes") or [])))
        for rnd, scenario in ((1, "awkward"), (2, "bad")):
            for name in plain:
                cfg = yaml.safe_load(pathlib.Path(f"{name}.yaml").read_text(encoding="utf-8"))
                played = play(f"{name}.yaml", rnd, scenario)
                round_(name, log)
                if not (pathlib.Path(f"bucket-{name}") / name / "batches" / f"round-{rnd + 1:04d}").exists():
                    off = [*ALFLOW, "write-off", f"{name}.yaml", "--round", str(rnd), "--reason", "cannot label"]
                    subprocess.run(off, capture_output=True, env={**os.environ, "PYTHONPATH": str(REPO)})
                    round_(name, log)
                sections.append((name, rnd, scenario, outcome(name, rnd, played, cfg.get("classes") or [])))
        for name in plain:  # every right label of round 2 in a new file after _DONE: read by round 3
            cfg = yaml.safe_load(pathlib.Path(f"{name}.yaml").read_text(encoding="utf-8"))
            played = play(f"{name}.yaml", 2, "again")
            round_(name, log)
            sections.append((name, 2, "again", outcome(name, 2, played, cfg.get("classes") or [])))
    finally:
        subprocess.run([*ALFLOW, "server", "stop"], capture_output=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    write(sections, log, started, load)


def write(sections: list[tuple[str, int, str, list[dict]]], log: list[str], started: float, load: float) -> None:
    out = [
        "# A vendor played by hand in every format, tags and numbers",
        "",
        f"Produced by `python benchmarks/hand_played_vendor.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{time.time() - started:.0f} s, load {load:.1f} at the start (1-minute average), "
        f"{os.getloadavg()[0]:.1f} at the end. Each round is `alflow round` in its own process.",
        "",
        "Scenarios: `awkward` (round 1's delivery: valid but awkward answers), `bad` (round 2's: one bad label of "
        "each kind), `again` (every right label of round 2 in a second file sent after `_DONE`, read by round 3: "
        "refused items taken once, accepted ones late duplicates, a different label a conflicting relabel), "
        "`votes` (several annotators). Cases not named are plain right answers.",
        "",
        "| campaign | round | scenario | item | case | truth | what alflow did |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, rnd, scenario, rows in sections:
        for row in rows:
            if row["case"] == "plain" and row["result"].startswith("taken once") and scenario != "again":
                continue
            out.append(
                f"| {name} | {rnd} | {scenario} | {row['item']} | {row['case']} | {row['truth']} | {row['result']} |"
            )
        plain = [r for r in rows if r["case"] == "plain"]
        fine = sum(r["result"].startswith("taken once") for r in plain)
        out.append(f"| {name} | {rnd} | {scenario} | the other {len(plain)} | plain | | {fine} taken once |")
    out += ["", "## Every round's last line", "", *[f"- {line}" for line in log], ""]
    target = REPO / "benchmarks" / "results" / "hand_played_vendor.md"
    target.write_text("\n".join(out), encoding="utf-8")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
