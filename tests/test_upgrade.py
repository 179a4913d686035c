"""A campaign started with the previous release continues after the upgrade.

tests/fixtures/ledger-0.1.0 is a bucket written by alflow 0.1.0 (its README says how); the next
round runs on it with the current code and does what 0.1.0 did with the same ledger.
"""

import shutil
from pathlib import Path

import pytest

from alflow.config import load_campaign
from alflow.exchange import layout
from alflow.exchange.bucket import open_store
from alflow.ledger.ledger import campaign_state
from alflow.ledger.records import ROUND_SCHEMA_VERSION, RoundRecord
from flows.round import active_learning_round

FIXTURE = Path(__file__).parent / "fixtures" / "ledger-0.1.0"
pytestmark = pytest.mark.usefixtures("prefect_server")

# What the 0.1.0 code's round 4 did on this ledger (tests/fixtures/ledger-0.1.0/README.md)
BATCH_0_1_0 = [
    "synthetic-r0004-0000",
    "synthetic-r0004-0001",
    "item-0325",
    "item-0142",
    "item-0281",
    "item-0100",
    "item-0303",
    "item-0328",
    "item-0053",
    "item-0166",
]


@pytest.fixture
def old_campaign(tmp_path, mlflow_template):
    folder = tmp_path / "campaign"
    shutil.copytree(FIXTURE, folder)
    shutil.copy(mlflow_template, folder / "mlflow.db")
    return folder / "campaign.yaml"


def test_the_ledger_of_the_previous_release_loads_whole(old_campaign):
    state = campaign_state(load_campaign(old_campaign))
    assert sorted(state.rounds) == [1, 2, 3] and sorted(state.delivered) == [1, 2, 3]
    assert all(r.schema_version == 1 for r in state.rounds.values())  # no version field: read as 1
    assert state.rounds[2].stream is not None and state.rounds[2].stream.files == ["day-1.csv"]
    assert len(state.rounds[1].outside_ids) == 2 and state.rounds[1].auto_labels.count == 25
    assert [r.reason for r in state.ingests[1][0].rejected] == ["label_not_in_class_set", "id_not_in_batch"]
    assert state.written_off == {1: frozenset({"item-0223"})}
    assert state.labels_asked == 44 and len(state.human_labels()) == 33 and len(state.auto_labeled()) == 75
    assert state.outstanding == [3] and 3 not in state.ingested  # delivered, not yet ingested


def test_the_next_round_continues_the_campaign_as_the_previous_release_did(old_campaign):
    report = active_learning_round(str(old_campaign))

    assert report.status == "exported", report.message()
    assert (report.round, report.labels_ingested, report.labels_used, report.auto_labeled) == (4, 10, 55, 25)
    state = campaign_state(load_campaign(old_campaign))
    assert state.batch_ids(4) == BATCH_0_1_0
    assert state.labels_asked == 54 and len(state.human_labels()) == 43 and len(state.auto_labeled()) == 100
    # the new round is written in the current schema, beside the old ones
    config = load_campaign(old_campaign)
    raw = open_store(config.vendor.bucket).read(layout.ledger_key(config.campaign, 4, "round.json"))
    new = RoundRecord.from_json(raw)
    assert new.schema_version == ROUND_SCHEMA_VERSION and new.strategy_used and new.strategy_reason
    assert all(r.strategy_used is None for r in state.rounds.values() if r.round < 4)  # not recorded by 0.1.0
