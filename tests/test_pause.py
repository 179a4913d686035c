"""Pause and resume (alflow.ledger.control, `alflow pause`, `alflow resume`): write-once records in
the ledger, honoured by rounds (a real round), by the delivery watcher, and shown by `alflow status`."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from alflow.errors import RoundConflictError
from alflow.exchange import layout
from alflow.exchange.local import LocalStore
from alflow.ledger.control import controls, paused, set_paused
from alflow.ledger.ledger import Ledger
from alflow.ledger.records import ControlRecord
from alflow.operations.plain import plain_round
from cli import app
from cli.watch import DeliveryWatcher

from helpers import ask, deliver, vendor_for

runner = CliRunner()


def test_pauses_and_resumes_are_numbered_records_written_once(tmp_path):
    ledger = Ledger(LocalStore(tmp_path), "c")
    first = set_paused(ledger, True, reason="vendor contract renewal")
    assert first is not None and (first.seq, first.action, first.round) == (1, "pause", 1)
    assert set_paused(ledger, True, reason="again") is None  # already paused: nothing written
    assert ledger.state().paused == first == paused(ledger.store, "c")
    resumed = set_paused(ledger, False)
    assert resumed is not None and (resumed.seq, resumed.action) == (2, "resume")
    assert set_paused(ledger, False) is None
    assert ledger.state().paused is None and paused(ledger.store, "c") is None
    assert [k.rsplit("/", 1)[-1] for k in ledger.store.list("c/ledger/control/")] == [
        "0001-pause.json",
        "0002-resume.json",
    ]
    assert [c.action for c in controls(ledger.store, "c")] == ["pause", "resume"]
    assert ledger.state().vendor_keys == ()  # the ledger's own records, not a vendor's file


def test_a_pause_recorded_meanwhile_by_another_process_is_not_overwritten(tmp_path):
    ledger = Ledger(LocalStore(tmp_path), "c")
    other = ControlRecord(seq=1, action="pause", round=1, at="2026-01-01T00:00:00+00:00", by="them@there")
    state = ledger.state()  # what this process read before the other one wrote
    ledger.store.write_once(layout.control_key("c", 1, "pause"), other.to_json())

    class Stale(Ledger):
        def state(self):
            return state

    with pytest.raises(RoundConflictError, match="another pause or resume"):
        set_paused(Stale(ledger.store, "c"), True, reason="mine")
    assert ledger.state().paused == other


def test_the_watcher_announces_no_delivery_of_a_paused_campaign_until_it_is_resumed(campaign):
    sent, said = [], []
    ask(campaign, ["a"], 1)
    deliver(campaign, 1, "id,label\na,1\n")
    ledger = Ledger.of(campaign)
    set_paused(ledger, True, reason="contract")
    watcher = DeliveryWatcher([campaign], emit=sent.append, on_pause=said.append)

    assert watcher.sweep() == [] and sent == []
    assert watcher.sweep() == [] and len(said) == 1 and "paused since" in said[0] and "contract" in said[0]
    set_paused(ledger, False)
    assert [d.round for d in watcher.sweep()] == [1] and len(sent) == 1
    assert "resumed" in said[-1]


def test_pause_resume_and_status_on_the_command_line(campaign_file):
    paused_now = runner.invoke(app, ["pause", str(campaign_file), "--reason", "vendor contract renewal"])
    assert paused_now.exit_code == 0, paused_now.output
    assert "paused from round 1" in paused_now.output
    again = runner.invoke(app, ["pause", str(campaign_file)])
    assert again.exit_code == 0 and "already paused since" in again.output
    shown = runner.invoke(app, ["status", str(campaign_file)])
    assert shown.exit_code == 0 and "paused since" in shown.output and "vendor contract renewal" in shown.output
    status = json.loads(runner.invoke(app, ["status", str(campaign_file), "--json"]).output)
    assert status["paused"]["reason"] == "vendor contract renewal" and status["paused"]["action"] == "pause"
    resumed = runner.invoke(app, ["resume", str(campaign_file), "--json"])
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.output)["paused"] is None
    assert json.loads(runner.invoke(app, ["status", str(campaign_file), "--json"]).output)["paused"] is None
    missing = runner.invoke(app, ["pause", str(campaign_file.parent / "nope.yaml")])
    assert missing.exit_code == 1 and "Traceback" not in missing.output


@pytest.mark.slow
def test_a_paused_campaign_s_round_ingests_but_trains_and_asks_nothing(campaign_file, campaign):
    ledger = Ledger.of(campaign)
    set_paused(ledger, True, reason="contract renewal")
    held = plain_round(campaign_file)
    assert held.status == "paused" and "contract renewal" in held.message() and "alflow resume" in held.message()
    assert ledger.state().rounds == {} and not ledger.store.list(f"{campaign.campaign}/batches/")

    set_paused(ledger, False)
    first = plain_round(campaign_file)
    assert first.status == "exported" and first.round == 1
    vendor_for(campaign, campaign_file.parent / "data" / "answers.csv").deliver(1)
    set_paused(ledger, True, reason="budget review")
    held = plain_round(campaign_file)
    assert held.status == "paused" and held.labels_ingested == 10  # no label waits unrecorded
    assert "ingested 10 labels" in held.message() and sorted(ledger.state().rounds) == [1]
    set_paused(ledger, False)
    assert plain_round(campaign_file).round == 2
