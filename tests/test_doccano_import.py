"""doccano 1.8 imports alflow's `items.jsonl` with its documented settings (JSONL, column data
`text`, column label `label`): the batch file put through the rules of doccano's import pipeline
(doccano/doccano v1.8.4, backend/data_import/pipeline: `JSONLParser.parse` in parsers.py, `Reader`
in readers.py, `ExampleMaker` and `LabelMaker` in makers.py, `TextData` in data.py, `CategoryLabel`
and `TextLabel` in label.py), written here over pandas as doccano runs them, since doccano itself
(a Django server) is not installed for the tests. Before `label: []` was written, every import
reported "Column label not found in the file" (issue 23).
"""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd
import pytest

from alflow.exchange.formats import doccano
from alflow.kinds import LabelKind

TEXT, LABEL, UUID, UPLOAD, LINE = "text", "label", "example_uuid", "upload_name", "#line_number"
RESERVED = {UUID, "filename", UPLOAD, LINE}  # the columns doccano's Reader adds to every record


def doccano_import(data: bytes, name: str = "items.jsonl") -> tuple[list[dict[str, Any]], list[Any], list[str]]:
    """(examples as doccano stores them, labels it creates, its error messages) for one JSONL upload."""
    errors, records = [], []
    for number, line in enumerate(data.decode("utf-8").splitlines(), start=1):  # LineReader: rstripped lines
        try:
            row = json.loads(line.rstrip())
        except json.JSONDecodeError as error:
            errors.append(f"line {number}: {error}")
            continue
        records.append({UUID: f"u{number}", "filename": name, UPLOAD: name, LINE: number, **row})
    frame = pd.DataFrame(records)
    if TEXT not in frame.columns:  # ExampleMaker.check_column_existence
        return [], [], [*errors, f"Column {TEXT} not found in the file"]
    errors += [f"Column {TEXT} not found in record" for _ in range(int(frame[TEXT].isnull().sum()))]
    examples = []
    for row in frame.loc[:, frame.columns != LABEL].dropna(subset=[TEXT]).to_dict(orient="records"):
        number, text = row.pop(LINE), row.pop(TEXT)
        meta = {k: v for k, v in row.items() if k not in RESERVED}
        if not isinstance(text, str) or not text:  # TextData: `text: str`, not empty
            errors.append(f"Invalid data in line {number}")
        else:
            examples.append({"text": text, "meta": meta})
    if LABEL not in frame.columns:  # LabelMaker.check_column_existence
        return examples, [], [*errors, f"Column {LABEL} not found in the file"]
    labels = frame.explode(LABEL)[[UUID, LABEL]].dropna(subset=[LABEL])
    return examples, labels[LABEL].tolist(), errors


def _items(kind: str) -> pd.DataFrame:
    frame = pd.DataFrame(
        {"id": ["t-1", "t-2", "t-3"], "score": [0.9, 0.5, 0.1], "text": ["a cat", 'an "eel"\u00e9', "x"]}
    )
    predicted = {"class": ["cat", "dog", None], "multi": ["cat;dog", "[]", "cat"], "number": ["7.5", "3", None]}
    return frame.assign(predicted=predicted[kind])


@pytest.mark.parametrize("kind", ["class", "multi", "number"])
@pytest.mark.parametrize("text_column", ["text", None], ids=["text", "features"])
def test_doccano_imports_the_batch_file_without_an_error_or_a_label(kind, text_column):
    spec = None if kind == "class" else LabelKind(kind=kind)
    data = doccano.write_batch(_items(kind), model_version="pets/3", text_column=text_column, kind=spec)
    examples, labels, errors = doccano_import(data)
    assert errors == [] and labels == []  # imported cleanly; no annotation made by the import
    assert [e["meta"]["alflow_id"] for e in examples] == ["t-1", "t-2", "t-3"]
    assert doccano.batch_ids(data) == ["t-1", "t-2", "t-3"]
    for example in examples:  # the metadata is JSON doccano's database keeps (no NaN)
        assert set(example["meta"]) == {"alflow_id", "alflow_score", "alflow_predicted", "alflow_model"}
        assert not any(isinstance(v, float) and math.isnan(v) for v in example["meta"].values())
    if text_column:
        assert [e["text"] for e in examples] == ["a cat", 'an "eel"\u00e9', "x"]


def test_the_rules_refuse_a_file_without_the_label_column_as_doccano_did():
    lines = [json.loads(line) for line in doccano.write_batch(_items("class"), model_version="m", text_column="text")
             .splitlines()]  # fmt: skip
    old = "".join(json.dumps({k: v for k, v in line.items() if k != LABEL}) + "\n" for line in lines).encode()
    assert doccano_import(old)[2] == ["Column label not found in the file"]
