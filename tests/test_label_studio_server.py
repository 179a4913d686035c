"""A real Label Studio server (issue 23) drives the whole loop, as docs/VENDORS.md tells a vendor:
its S3 source storage imports a round's tasks from alflow's batch folder with its default settings,
annotations are made over its REST API (one changed before the storage wrote it, one skipped and
labeled later, one corrected after alflow read it), its S3 target storage writes them into the
delivery folder, and the next rounds ingest them without a `_DONE` marker
(`vendor.complete_when: all_answered`): every label once and as Label Studio last had it, nothing
quarantined. Then the shapes a vendor meets, one project each on the same server, one round each:
a text pool, an image pool whose `s3://` references Label Studio presigns (the images' bucket
connected as a second source storage, never synced), a numeric campaign (`Number step="any"`) and a
tags campaign (`Choices choice="multiple"`, one task submitted with no choice: the empty set), and a
tags campaign without the empty set (a task saved with no choice refused, one reason row, until its
annotation is updated), and decimals typed key by key in the labeling page itself (headless
Chromium: saved and delivered as typed, but for a zero among the decimals, which Label Studio's
field drops); and a second server started with
FUTURE_SAVE_TASK_TO_STORAGE=true, whose target storage writes and rewrites one `<task id>.json` per
task. Everything on loopback: moto's S3 server and Label Studio
1.23.2 from its own virtualenv (`make label-studio`, or the one ALFLOW_LABEL_STUDIO_VENV names),
its database migrated once there (`template/`); skipped, with the reason, where it could not be
installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import boto3
import pandas as pd
import pytest
import yaml

from alflow.config import load_campaign
from alflow.exchange import layout
from alflow.exchange.formats import label_studio
from alflow.kinds import tags
from alflow.ledger.ledger import Ledger
from alflow.ledger.state import accepted_labels
from alflow.operations.demo import write_demo_data
from alflow.operations.kind_data import write_kind_data
from alflow.operations.plain import plain_round

from helpers import image_items, wait_until, write_image_campaign

pytestmark = [pytest.mark.slow, pytest.mark.label_studio, pytest.mark.xdist_group("label_studio")]  # one server per run

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(os.environ.get("ALFLOW_LABEL_STUDIO_VENV", ROOT / ".venv-label-studio"))
TOKEN = "alflow-test-token-0123456789"


def _skip_reason() -> str | None:
    if (VENV / "bin" / "label-studio").exists():
        return None
    log = VENV / "install.log"
    last = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
    why = f": {last[0][:200]}" if last else ""
    return f"Label Studio is not installed in {VENV} (`make label-studio` builds it){why}"


class LabelStudio:
    """The server's REST API with the user's token (JSON in, JSON out)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def call(self, method: str, path: str, body: Any = None) -> Any:
        request = urllib.request.Request(
            self.url + path,
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Authorization": f"Token {TOKEN}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                text = response.read()
        except urllib.error.HTTPError as error:
            raise AssertionError(f"{method} {path}: {error.code} {error.read()[:2000]!r}") from None
        return json.loads(text) if text else None


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def _running_label_studio(folder: Path, **settings: str) -> Iterator[LabelStudio]:
    """Label Studio on a free loopback port (`settings`: more of its environment), with a user whose
    token the API takes; its database copied from the one migrated by `make label-studio`."""
    (folder / "data").mkdir()
    template = VENV / "template" / "label_studio.sqlite3"  # migrated by `make label-studio`: no minutes of migrations
    if template.exists():
        shutil.copy(template, folder / "data" / template.name)
    port = _free_port()
    env = {
        **os.environ,
        "LABEL_STUDIO_BASE_DATA_DIR": str(folder / "data"),
        "USE_DEFAULT_BANNED_SUBNETS": "false",  # its SSRF guard refuses an S3 endpoint on 127.0.0.1 otherwise
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",  # the `--user-token` given below
        "SENTRY_DSN": "",
        "LATEST_VERSION_CHECK": "false",
        "COLLECT_ANALYTICS": "false",
        **settings,
    }
    command = [
        *(str(VENV / "bin" / "label-studio"), "start", "--no-browser", "--host", "127.0.0.1", "--port", str(port)),
        *("--username", "vendor@example.com", "--password", "alflow-test-pw", "--user-token", TOKEN),
    ]
    log = (folder / "server.log").open("wb")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    api = LabelStudio(f"http://127.0.0.1:{port}")
    try:
        wait_until(
            lambda: _answers_api(api) or server.poll() is not None,
            what=f"Label Studio answering its API on {api.url}",
            every=1,
            detail=lambda: (folder / "server.log").read_text()[-3000:],
        )
        assert server.poll() is None, (
            f"Label Studio exited with {server.returncode}: " + (folder / "server.log").read_text()[-3000:]
        )
        yield api
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _answers_api(api: LabelStudio) -> bool:
    try:
        api.call("GET", "/api/projects")
    except (OSError, AssertionError):
        return False
    return True


@pytest.fixture(scope="module")
def label_studio_server(tmp_path_factory) -> Iterator[LabelStudio]:
    """Label Studio as `label-studio start` runs it, once per run (this module is one xdist group),
    stopped when the module ends rather than idling beside the rest of the run."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    with _running_label_studio(tmp_path_factory.mktemp("label-studio")) as api:
        yield api


@pytest.fixture(scope="module")
def label_studio_task_files(tmp_path_factory) -> Iterator[LabelStudio]:
    """Label Studio started with FUTURE_SAVE_TASK_TO_STORAGE=true: its target storages write one
    `<task id>.json` per task (the task with all its annotations), rewritten as they change."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("label-studio-tasks")
    with _running_label_studio(folder, FUTURE_SAVE_TASK_TO_STORAGE="true") as api:
        yield api


def _choice(label: str) -> list[dict[str, Any]]:
    return [{"from_name": "label", "to_name": "item", "type": "choices", "value": {"choices": [label]}}]


def _storage(campaign, endpoint: str, project: int, prefix: str) -> dict[str, Any]:
    """A storage's settings: the bucket on moto's endpoint, its prefix; everything else Label Studio's default."""
    bucket, _, root = campaign.vendor.bucket.removeprefix("s3://").partition("/")
    return {
        "project": project,
        "bucket": bucket,
        "prefix": f"{root}/{prefix}".rstrip("/"),
        "s3_endpoint": endpoint,
        "region_name": "us-east-1",
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }


def _sync(api: LabelStudio, kind: str, storage: int) -> dict[str, Any]:
    """Sync a storage (`s3` source, `export/s3` target) and wait until Label Studio says it completed."""
    api.call("POST", f"/api/storages/{kind}/{storage}/sync")
    seen: list[dict[str, Any]] = []

    def finished() -> dict[str, Any] | None:
        seen.append(api.call("GET", f"/api/storages/{kind}/{storage}"))
        return seen[-1] if seen[-1]["status"] in ("completed", "failed") else None

    what = f"Label Studio's {kind} storage {storage} finishing its sync"
    state = wait_until(finished, what=what, detail=lambda: seen[-1])
    assert state["status"] == "completed", state
    return state


def _tasks(api: LabelStudio, project: int) -> list[dict[str, Any]]:
    found = api.call("GET", f"/api/tasks?project={project}&page_size=1000")
    tasks = found["tasks"] if isinstance(found, dict) else found
    return sorted(tasks, key=lambda t: t["data"]["alflow_rank"])


def _batch_in_label_studio(
    api: LabelStudio, campaign, endpoint: str, round_: int, size: int = 10
) -> tuple[int, list[dict]]:
    """A project for the round's batch, its tasks imported by a source storage on the batch's `tasks/` folder."""
    store = boto3.client("s3")
    bucket, _, root = campaign.vendor.bucket.removeprefix("s3://").partition("/")
    batch = f"{layout.batch_prefix(campaign.campaign, round_)}"
    config = store.get_object(Bucket=bucket, Key=f"{root}/{batch}{label_studio.LABEL_CONFIG}")["Body"].read()
    project = api.call("POST", "/api/projects", {"title": f"round {round_}", "label_config": config.decode()})["id"]
    assert api.call("GET", f"/api/projects/{project}")["label_config"] == config.decode().strip()  # as is
    source = api.call("POST", "/api/storages/s3", _storage(campaign, endpoint, project, batch + "tasks"))
    assert _sync(api, "s3", source["id"])["last_sync_count"] == size
    return project, _tasks(api, project)


def _annotate(api: LabelStudio, task: int, label: str | None) -> dict[str, Any]:
    body = {"result": _choice(label), "was_cancelled": False} if label else {"result": [], "was_cancelled": True}
    return api.call("POST", f"/api/tasks/{task}/annotations", body)


def _delivery_storage(api: LabelStudio, campaign, endpoint: str, project: int, round_: int) -> None:
    """A target storage on the round's delivery folder, synced: every annotation made so far is written."""
    prefix = layout.delivery_prefix(campaign.campaign, round_)
    target = api.call("POST", "/api/storages/export/s3", _storage(campaign, endpoint, project, prefix))
    _sync(api, "export/s3", target["id"])


def test_label_studio_reads_the_batch_and_writes_the_labels_through_its_cloud_storage(
    label_studio_server, campaign, campaign_file, s3_endpoint
):
    api = label_studio_server
    name = f"ls-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=name)
    vendor = {"format": "label_studio", "bucket": f"s3://{name}/team", "complete_when": "all_answered"}
    campaign = campaign.model_copy(update={"vendor": campaign.vendor.model_copy(update=vendor)})
    answers = pd.read_csv(campaign_file.parent / "data" / "answers.csv", dtype=str).set_index("id")["label"]
    assert plain_round(campaign).status == "exported"

    # Round 1: one annotation changed before the storage writes it, one task skipped, then labeled.
    project, tasks = _batch_in_label_studio(api, campaign, s3_endpoint, 1)
    ids = [t["data"]["id"] for t in tasks]
    assert [t["total_predictions"] for t in tasks] == [1] * 10
    wrong = next(c for c in campaign.classes if c != answers[ids[0]])
    changed = _annotate(api, tasks[0]["id"], wrong)
    api.call("PATCH", f"/api/annotations/{changed['id']}", {"result": _choice(answers[ids[0]])})
    _annotate(api, tasks[1]["id"], None)  # skipped: no vote, the item stays outstanding
    slip = _annotate(api, tasks[2]["id"], next(c for c in campaign.classes if c != answers[ids[2]]))
    for task, item in zip(tasks[3:], ids[3:], strict=True):
        _annotate(api, task["id"], answers[item])
    _delivery_storage(api, campaign, s3_endpoint, project, 1)

    report = plain_round(campaign)
    assert (report.status, report.labels_ingested, report.waiting_for) == ("waiting", 9, {1: 1}), report
    # Then, with the storage connected (it writes each annotation as it is saved): the skipped
    # task labeled, and an annotation alflow read already corrected in Label Studio.
    _annotate(api, tasks[1]["id"], answers[ids[1]])
    api.call("PATCH", f"/api/annotations/{slip['id']}", {"result": _choice(answers[ids[2]])})

    report = plain_round(campaign)
    assert (report.status, report.labels_ingested, report.round) == ("exported", 1, 2), report

    # Round 2: labeled in a project of its own.
    project, tasks = _batch_in_label_studio(api, campaign, s3_endpoint, 2)
    for task in tasks:
        _annotate(api, task["id"], answers[task["data"]["id"]])
    _delivery_storage(api, campaign, s3_endpoint, project, 2)
    report = plain_round(campaign)
    assert (report.status, report.labels_ingested, report.round) == ("exported", 10, 3), report

    state = Ledger.of(campaign).state()
    for round_ in (1, 2):
        records = state.ingests[round_]
        assert accepted_labels(records) == {i: answers[i] for i in state.batch_ids(round_)}
        assert sum(r.count for r in records) == 10  # every label once
        assert [r for r in records if r.quarantine or r.refused] == []  # nothing quarantined
    assert [r.revised for r in state.ingests[1] if r.revised] == [{ids[2]: answers[ids[2]]}]  # the correction
    assert state.delivered == frozenset()  # no _DONE anywhere: complete by all_answered


# --- The judged shapes, each in a project of its own on the same server: a text pool, an image
# pool whose references Label Studio presigns, a numeric campaign and a tags campaign. One round
# each is labeled in Label Studio from the answer key, as its labeling interface submits it.


def _on_s3(path: Path):
    """The campaign in `path`, its exchange in a bucket of its own on moto, complete when all answered."""
    campaign = load_campaign(path)
    name = f"ls-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=name)
    vendor = {"format": "label_studio", "bucket": f"s3://{name}/team", "complete_when": "all_answered"}
    return campaign.model_copy(update={"vendor": campaign.vendor.model_copy(update=vendor)})


def _answers(folder: Path) -> pd.Series:
    return pd.read_csv(folder / "data" / "answers.csv", dtype=str, keep_default_na=False).set_index("id")["label"]


def _submitted(answer: str, kind: str) -> list[dict[str, Any]]:
    """The result Label Studio saves when the answer is given in `label_config.xml`'s control: one
    choice, the tags ticked (no result when none is), or the number typed."""
    head = {"from_name": "label", "to_name": "item"}
    if kind == "number":
        return [{**head, "type": "number", "value": {"number": float(answer)}}]
    chosen = list(tags(answer)) if kind == "multi" else [answer]
    return [{**head, "type": "choices", "value": {"choices": chosen}}] if chosen else []


def _labeled_and_ingested(
    api: LabelStudio, campaign, endpoint: str, project: int, tasks: list[dict], answers: pd.Series, kind: str
) -> None:
    """Round 1's batch labeled in its project from the answer key, written by a target storage, read
    by round 2: every label once and as given, nothing refused."""
    for task in tasks:
        body = {"result": _submitted(answers[task["data"]["id"]], kind), "was_cancelled": False}
        api.call("POST", f"/api/tasks/{task['id']}/annotations", body)
    _delivery_storage(api, campaign, endpoint, project, 1)
    report = plain_round(campaign)
    assert (report.status, report.labels_ingested, report.round) == ("exported", 10, 2), report
    state = Ledger.of(campaign).state()
    records = state.ingests[1]
    assert accepted_labels(records) == {i: answers[i] for i in state.batch_ids(1)}
    assert sum(r.count for r in records) == 10  # every label once
    assert [r for r in records if r.quarantine or r.refused] == []  # nothing quarantined


def test_a_text_pool_through_label_studio(label_studio_server, tmp_path, mlflow_template, s3_endpoint):
    api = label_studio_server
    shutil.copy(mlflow_template, tmp_path / "mlflow.db")
    path = write_demo_data(tmp_path, bucket=None, max_labels=60, batch_size=10, dataset="text", fmt="label_studio")
    campaign = _on_s3(path)
    assert plain_round(campaign).status == "exported"
    project, tasks = _batch_in_label_studio(api, campaign, s3_endpoint, 1)
    texts = pd.read_csv(campaign.pool.uri, dtype=str).set_index("id")[campaign.pool.text_column]
    assert [t["data"]["text"] for t in tasks] == [texts[t["data"]["id"]] for t in tasks]  # what the annotator reads
    _labeled_and_ingested(api, campaign, s3_endpoint, project, tasks, _answers(tmp_path), "class")


class _Held(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the redirect is answered as it is: its Location is what a browser follows


def _image_as_shown(api: LabelStudio, task: int) -> tuple[str, bytes]:
    """(the URL Label Studio redirects the labeling page to, the bytes it serves) for a task's image."""
    shown = api.call("GET", f"/api/tasks/{task}")["data"]["image"]
    assert not shown.startswith("s3://"), shown  # resolved: Label Studio's own URL for the reference
    request = urllib.request.Request(urljoin(api.url, shown), headers={"Authorization": f"Token {TOKEN}"})
    try:
        urllib.request.build_opener(_Held).open(request, timeout=60)
    except urllib.error.HTTPError as answer:
        assert answer.code in (302, 303, 307), answer
        presigned = answer.headers["Location"]
    else:
        raise AssertionError(f"{shown}: no redirect to a presigned URL")
    with urllib.request.urlopen(presigned, timeout=60) as response:  # no token: the signature is the grant
        return presigned, response.read()


def test_an_image_pool_through_label_studio(label_studio_server, tmp_path, mlflow_template, s3_endpoint):
    """The pool and its images in the team's data bucket; the tasks carry `s3://` references, which
    Label Studio presigns once that bucket is connected as a source storage too (never synced)."""
    api = label_studio_server
    shutil.copy(mlflow_template, tmp_path / "mlflow.db")
    items = image_items(tmp_path / "data", per_class=25)
    s3, images = boto3.client("s3"), f"scans-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=images)
    for image in (tmp_path / "data" / "images").iterdir():
        s3.upload_file(str(image), images, f"campaign-a/images/{image.name}")
    pool = f"s3://{images}/campaign-a/pool.parquet"
    path = write_image_campaign(tmp_path, items, pool_uri=pool, bucket="bucket", fmt="label_studio", holdout=40)
    s3.upload_file(str(tmp_path / "data" / "pool.parquet"), images, "campaign-a/pool.parquet")
    campaign = _on_s3(path)
    assert plain_round(campaign).status == "exported"
    project, tasks = _batch_in_label_studio(api, campaign, s3_endpoint, 1)
    media = {**_storage(campaign, s3_endpoint, project, ""), "bucket": images, "prefix": "campaign-a/images"}
    api.call("POST", "/api/storages/s3", media)  # presign on, Label Studio's default
    for task in tasks:
        key = f"campaign-a/images/{task['data']['id']}.png"
        assert task["data"]["image"] == f"s3://{images}/{key}"
        presigned, shown = _image_as_shown(api, task["id"])
        assert "Signature=" in presigned and shown == s3.get_object(Bucket=images, Key=key)["Body"].read()
    _labeled_and_ingested(api, campaign, s3_endpoint, project, tasks, _answers(tmp_path), "class")


def test_a_numeric_campaign_through_label_studio(label_studio_server, tmp_path, mlflow_template, s3_endpoint):
    """`labels.kind: number`: a `Number` with `step="any"`, decimals typed as they are."""
    api = label_studio_server
    shutil.copy(mlflow_template, tmp_path / "mlflow.db")
    campaign = _on_s3(write_kind_data(tmp_path, "friedman", max_labels=60, batch_size=10, fmt="label_studio"))
    assert plain_round(campaign).status == "exported"
    project, tasks = _batch_in_label_studio(api, campaign, s3_endpoint, 1)
    assert 'step="any"' in api.call("GET", f"/api/projects/{project}")["label_config"]
    answers = _answers(tmp_path)
    assert all("." in answers[t["data"]["id"]] for t in tasks)  # decimals, not whole numbers
    _labeled_and_ingested(api, campaign, s3_endpoint, project, tasks, answers, "number")


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _annotation_saved(response: Any) -> bool:
    return "/annotations" in response.url and response.request.method == "POST"


def _typed_in_the_labeling_page(api: LabelStudio, project: int, typed: dict[int, str], folder: Path) -> None:
    """Log in as the vendor's annotator in headless Chromium (Debian's, driven by Playwright, as in
    tests/test_dashboard_browser.py) and, for each task, open it in the labeling page, type the
    text key by key (120 ms apart, a person's pace) into the Number field and press Submit."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{api.url}/user/login/")
            page.fill('input[name="email"]', "vendor@example.com")
            page.fill('input[name="password"]', "alflow-test-pw")
            page.click('button[type="submit"]')
            page.wait_for_load_state("networkidle")
            for task, text in typed.items():
                page.goto(f"{api.url}/projects/{project}/data?task={task}")
                field = page.locator('input[type="number"]')
                field.wait_for(timeout=120_000)
                field.click()
                field.press("Control+a")  # over the model's guess, pre-annotated from the prediction
                field.press("Backspace")
                page.keyboard.type(text, delay=120)
                page.screenshot(path=str(folder / f"label-studio-number-{task}.png"))
                with page.expect_response(_annotation_saved, timeout=120_000):
                    page.get_by_role("button", name="Submit").click()
        finally:
            browser.close()


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is missing: `make test` installs it")
def test_decimals_typed_in_label_studios_labeling_page_arrive_as_label_studio_saved_them(
    label_studio_server, tmp_path, mlflow_template, s3_endpoint
):
    """`Number step="any"` in the real labeling page, typed by a person (no API shortcut): a decimal
    without a zero among its decimals is saved, exported and delivered as typed. Label Studio 1.23.2's
    field re-reads its value at each key, so a 0 typed as the last decimal so far is dropped, with the
    point when it is the first decimal: "2.05" is saved as 25. alflow delivers what Label Studio saved
    (it cannot see the keys); docs/VENDORS.md warns."""
    api = label_studio_server
    shutil.copy(mlflow_template, tmp_path / "mlflow.db")
    campaign = _on_s3(write_kind_data(tmp_path, "friedman", max_labels=60, batch_size=10, fmt="label_studio"))
    assert plain_round(campaign).status == "exported"
    project, tasks = _batch_in_label_studio(api, campaign, s3_endpoint, 1)
    answers = _answers(tmp_path)
    plain = next(t for t in tasks if "0" not in answers[t["data"]["id"]].partition(".")[2])
    zero = next(t for t in tasks if t is not plain)
    typed = {plain["id"]: answers[plain["data"]["id"]], zero["id"]: "2.05"}
    assert len(typed[plain["id"]].partition(".")[2]) >= 6  # many decimals: a step of 1 would refuse them
    _typed_in_the_labeling_page(api, project, typed, tmp_path)
    saved = {t: api.call("GET", f"/api/tasks/{t}/annotations")[0]["result"][0]["value"] for t in typed}
    assert saved == {plain["id"]: {"number": float(typed[plain["id"]])}, zero["id"]: {"number": 25}}

    given = answers.copy()
    given[zero["data"]["id"]] = "25"  # as Label Studio saved it
    rest = [t for t in tasks if t["id"] not in typed]
    _labeled_and_ingested(api, campaign, s3_endpoint, project, rest, given, "number")  # all 10 delivered once
    assert Ledger.of(campaign).state().ingested[1][plain["data"]["id"]] == typed[plain["id"]]  # as typed


def test_a_tags_campaign_through_label_studio(label_studio_server, tmp_path, mlflow_template, s3_endpoint):
    """`labels.kind: multi`: `Choices choice="multiple"`, several ticked, or none for the empty set."""
    api = label_studio_server
    shutil.copy(mlflow_template, tmp_path / "mlflow.db")
    campaign = _on_s3(write_kind_data(tmp_path, "multilabel", max_labels=60, batch_size=10, fmt="label_studio"))
    assert plain_round(campaign).status == "exported"
    project, tasks = _batch_in_label_studio(api, campaign, s3_endpoint, 1)
    assert 'choice="multiple"' in api.call("GET", f"/api/projects/{project}")["label_config"]
    answers = _answers(tmp_path)
    assert any(len(tags(answers[t["data"]["id"]])) > 1 for t in tasks)  # several tags on one item
    # the annotator submits the last task with no choice ticked (the campaign allows the empty set):
    # it arrives once, as the empty set
    given, empty = answers.copy(), tasks[-1]["data"]["id"]
    assert given[empty] != "[]"
    given[empty] = "[]"
    _labeled_and_ingested(api, campaign, s3_endpoint, project, tasks, given, "multi")
    assert Ledger.of(campaign).state().ingested[1][empty] == "[]"


def _without_the_empty_set(path: Path) -> Path:
    """The multi-label campaign file `path` with `labels.allow_empty: false`: its seed labels, holdout
    and pool without the items whose true tag set is empty."""
    folder = path.parent
    settings = yaml.safe_load(path.read_text())
    settings["labels"]["allow_empty"] = False
    path.write_text(yaml.safe_dump(settings, sort_keys=False))
    data = folder / "data"
    answers = _answers(folder)
    for name in ("seed.csv", "holdout.csv", "pool.csv"):
        frame = pd.read_csv(data / name, dtype=str, keep_default_na=False)
        keep = frame["label"] != "[]" if "label" in frame else frame["id"].map(answers) != "[]"
        frame[keep].to_csv(data / name, index=False)
    return path


def test_a_tags_campaign_without_the_empty_set_refuses_a_task_submitted_with_no_tag(
    label_studio_server, tmp_path, mlflow_template, s3_endpoint
):
    """`labels.allow_empty: false`: the choices are required in the labeling interface, but an
    annotation saved with none (over the API, or a tool that skips the check) is one refused row with
    its reason; the item stays missing until the annotator ticks a tag, then arrives once."""
    api = label_studio_server
    shutil.copy(mlflow_template, tmp_path / "mlflow.db")
    path = write_kind_data(tmp_path, "multilabel", max_labels=60, batch_size=10, fmt="label_studio")
    campaign = _on_s3(_without_the_empty_set(path))
    assert not campaign.labels.allow_empty and plain_round(campaign).status == "exported"
    project, tasks = _batch_in_label_studio(api, campaign, s3_endpoint, 1)
    assert 'required="true"' in api.call("GET", f"/api/projects/{project}")["label_config"]
    answers, ids = _answers(tmp_path), [t["data"]["id"] for t in tasks]
    untagged = api.call("POST", f"/api/tasks/{tasks[0]['id']}/annotations", {"result": [], "was_cancelled": False})
    for task, item in zip(tasks[1:], ids[1:], strict=True):
        api.call("POST", f"/api/tasks/{task['id']}/annotations", {"result": _submitted(answers[item], "multi")})
    _delivery_storage(api, campaign, s3_endpoint, project, 1)

    report = plain_round(campaign)
    assert (report.status, report.labels_ingested, report.rows_rejected) == ("waiting", 9, 1), report
    state = Ledger.of(campaign).state()
    refused = [(row.id, row.reason) for record in state.ingests[1] for row in record.rejected]
    assert refused == [(ids[0], "empty_tags_not_allowed")]  # one row, its reason
    assert state.ingested[1] == {i: answers[i] for i in ids[1:]} and state.missing(1) == [ids[0]]

    # the annotator ticks the item's tags; the connected storage rewrites the annotation: it arrives once
    api.call("PATCH", f"/api/annotations/{untagged['id']}", {"result": _submitted(answers[ids[0]], "multi")})
    report = plain_round(campaign)
    assert (report.status, report.labels_ingested, report.round) == ("exported", 1, 2), report
    state = Ledger.of(campaign).state()
    assert accepted_labels(state.ingests[1]) == {i: answers[i] for i in ids}
    assert sum(r.count for r in state.ingests[1]) == 10  # every label once, the refused row not among them


def test_label_studio_writing_one_file_per_task_delivers_every_label_once(
    label_studio_task_files, campaign_file, s3_endpoint
):
    """FUTURE_SAVE_TASK_TO_STORAGE: the target storage connected before labeling writes `<task id>.json`
    as each annotation is saved and rewrites it when the task's annotations change (a skipped task
    labeled, an annotation corrected after alflow read it): each rewrite read again, every label once."""
    api = label_studio_task_files
    campaign = _on_s3(campaign_file)
    answers = _answers(campaign_file.parent)
    assert plain_round(campaign).status == "exported"
    project, tasks = _batch_in_label_studio(api, campaign, s3_endpoint, 1)
    _delivery_storage(api, campaign, s3_endpoint, project, 1)  # connected first: it writes as annotations are saved
    ids = [t["data"]["id"] for t in tasks]
    _annotate(api, tasks[0]["id"], None)  # skipped: its file holds a cancelled annotation, no vote
    slip = _annotate(api, tasks[1]["id"], next(c for c in campaign.classes if c != answers[ids[1]]))
    for task, item in zip(tasks[2:], ids[2:], strict=True):
        _annotate(api, task["id"], answers[item])

    bucket, _, root = campaign.vendor.bucket.removeprefix("s3://").partition("/")
    prefix = f"{root}/{layout.delivery_prefix(campaign.campaign, 1)}"
    expected = sorted(f"{t['id']}.json" for t in tasks)

    def written() -> list[str]:
        listed = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
        return sorted(o["Key"].removeprefix(prefix) for o in listed)

    what = f"the target storage writing one <task id>.json per task under {prefix}"
    files = wait_until(lambda: set(expected) <= set(written()) and written(), what=what, detail=written)
    assert files == expected  # nothing else written
    report = plain_round(campaign)
    assert (report.status, report.labels_ingested, report.waiting_for) == ("waiting", 9, {1: 1}), report

    _annotate(api, tasks[0]["id"], answers[ids[0]])  # its file rewritten: the cancelled annotation and this one
    api.call("PATCH", f"/api/annotations/{slip['id']}", {"result": _choice(answers[ids[1]])})  # rewritten again
    report = plain_round(campaign)
    assert (report.status, report.labels_ingested, report.round) == ("exported", 1, 2), report
    state = Ledger.of(campaign).state()
    records = state.ingests[1]
    assert accepted_labels(records) == {i: answers[i] for i in ids}
    assert sum(r.count for r in records) == 10  # every label once, however often its file was rewritten
    assert [r for r in records if r.quarantine or r.refused] == []
    assert [r.revised for r in records if r.revised] == [{ids[1]: answers[ids[1]]}]
