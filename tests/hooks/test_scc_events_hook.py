"""SccEventsTableHook: the money scrub of SCC's DynamoDB table, against moto in server mode."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from charter_pipeline.hooks.policy import ServiceRejected
from charter_pipeline.hooks.scc_events import (
    MAX_SCRUB_ROUNDS,
    SccEventNotFound,
    SccEventsTableHook,
    ScrubNotConfirmed,
    _ScrubPlan,
)
from tests.hooks.stand_ins import AWS_SECRET_KEY, unique

NOTES = (
    "Meet at 09:30 by the fuel dock\r\n"
    "Captain fee: $150.00\n"
    "  Bring the spare VHF radio  \n"
    "Crew pay 25.00 USD per hour\n"
    "Guest birthday: bring candles\n"
    "Net revenue 289.41"
)
CLEAN_NOTES = "Meet at 09:30 by the fuel dock\r\n  Bring the spare VHF radio  \nGuest birthday: bring candles\n"


@pytest.fixture
def table(aws_client: Callable[[str], Any]) -> tuple[Any, str]:
    dynamodb = aws_client("dynamodb")
    name = unique("scc-events")
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "event_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "event_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return dynamodb, name


def scc_item(event_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": {"S": event_id},
        "external_ref": {"S": "boatsetter:BS-1001"},
        "boat": {"S": "Queen of San Diego"},
        "party_size": {"N": "6"},
        "crew": {"L": [{"M": {"name": {"S": "Sam Rivera"}, "role": {"S": "captain"}}}]},
        "created_at": {"S": "2026-11-20T10:00:00Z"},
        **extra,
    }


def read(table: tuple[Any, str], event_id: str) -> dict[str, Any] | None:
    dynamodb, name = table
    item: dict[str, Any] | None = dynamodb.get_item(
        TableName=name, Key={"event_id": {"S": event_id}}, ConsistentRead=True
    ).get("Item")
    return item


def test_scrub_removes_money_attributes_and_lines_and_keeps_the_rest(table: tuple[Any, str], aws_conn: str) -> None:
    dynamodb, name = table
    money = {
        "captain_fee": {"N": "150"},
        "crewPay": {"N": "50.00"},
        "net-revenue": {"S": "289.41"},
        "hourly rate": {"N": "25"},
        "payout": {"M": {"crew": {"N": "100"}}},
    }
    dynamodb.put_item(TableName=name, Item=scc_item("evt-1", notes={"S": NOTES}, **money))

    report = SccEventsTableHook(name).scrub_event("evt-1")

    assert report.event_id == "evt-1"
    assert sorted(report.removed_attributes) == sorted(money)
    assert report.removed_lines == 3
    assert read(table, "evt-1") == scc_item("evt-1", notes={"S": CLEAN_NOTES})


def test_clean_item_is_left_alone(table: tuple[Any, str], aws_conn: str) -> None:
    dynamodb, name = table
    dynamodb.put_item(TableName=name, Item=scc_item("evt-2", notes={"S": "Meet at 09:30\n6 guests"}))
    report = SccEventsTableHook(name).scrub_event("evt-2")
    assert not report.changed
    assert report.to_dict() == {"event_id": "evt-2", "removed_attributes": [], "removed_lines": 0}
    assert read(table, "evt-2") == scc_item("evt-2", notes={"S": "Meet at 09:30\n6 guests"})


def test_item_without_notes_loses_only_its_money_attributes(table: tuple[Any, str], aws_conn: str) -> None:
    dynamodb, name = table
    dynamodb.put_item(TableName=name, Item=scc_item("evt-3", revenue={"N": "840.75"}))
    report = SccEventsTableHook(name).scrub_event("evt-3")
    assert report.removed_attributes == ["revenue"]
    assert read(table, "evt-3") == scc_item("evt-3")


def test_notes_made_only_of_money_become_empty(table: tuple[Any, str], aws_conn: str) -> None:
    dynamodb, name = table
    dynamodb.put_item(TableName=name, Item=scc_item("evt-4", notes={"S": "Fee $20\nMargin 30%"}))
    assert SccEventsTableHook(name).scrub_event("evt-4").removed_lines == 2
    assert read(table, "evt-4") == scc_item("evt-4", notes={"S": ""})


def test_missing_item_is_never_created(table: tuple[Any, str], aws_conn: str) -> None:
    with pytest.raises(SccEventNotFound, match="evt-missing"):
        SccEventsTableHook(table[1]).scrub_event("evt-missing")
    assert read(table, "evt-missing") is None


class ConcurrentScc(SccEventsTableHook):
    """SCC writes the item between our read and our update, ``writes`` times."""

    def __init__(self, *args: Any, write: Callable[[int], None], writes: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.write = write
        self.writes = writes
        self.updates = 0

    def _update_item(self, event_id: str, plan: _ScrubPlan) -> bool:
        self.updates += 1
        if self.updates <= self.writes:
            self.write(self.updates)
        return super()._update_item(event_id, plan)


def test_a_concurrent_scc_write_to_notes_is_not_clobbered(table: tuple[Any, str], aws_conn: str) -> None:
    dynamodb, name = table
    dynamodb.put_item(TableName=name, Item=scc_item("evt-5", notes={"S": NOTES}))

    def scc_appends_a_line(_: int) -> None:
        dynamodb.update_item(
            TableName=name,
            Key={"event_id": {"S": "evt-5"}},
            UpdateExpression="SET notes = :n",
            ExpressionAttributeValues={":n": {"S": NOTES + "\nDock B, slip 12\nTip $40"}},
        )

    hook = ConcurrentScc(name, write=scc_appends_a_line, writes=1)
    report = hook.scrub_event("evt-5")

    assert hook.updates == 2
    assert read(table, "evt-5") == scc_item("evt-5", notes={"S": CLEAN_NOTES + "Dock B, slip 12\n"})
    assert report.removed_lines == 4


def test_money_that_keeps_coming_back_is_a_loud_failure(table: tuple[Any, str], aws_conn: str) -> None:
    dynamodb, name = table
    dynamodb.put_item(TableName=name, Item=scc_item("evt-6", crew_pay={"N": "50"}))

    def scc_rewrites_pay(_: int) -> None:
        dynamodb.update_item(
            TableName=name,
            Key={"event_id": {"S": "evt-6"}},
            UpdateExpression="SET captain_fee = :f",
            ExpressionAttributeValues={":f": {"N": "150"}},
        )

    class Stubborn(ConcurrentScc):
        def _update_item(self, event_id: str, plan: _ScrubPlan) -> bool:
            done = super()._update_item(event_id, plan)
            self.write(self.updates)  # SCC adds money back right after each scrub
            return done

    hook = Stubborn(name, write=scc_rewrites_pay, writes=0)
    with pytest.raises(ScrubNotConfirmed, match=r"evt-6.*captain_fee"):
        hook.scrub_event("evt-6")
    assert hook.updates == MAX_SCRUB_ROUNDS


def test_injected_rules_decide_what_is_money(table: tuple[Any, str], aws_conn: str) -> None:
    dynamodb, name = table
    dynamodb.put_item(TableName=name, Item=scc_item("evt-7", notes={"S": "keep\nSECRET-MONEY\nkeep too"}))
    hook = SccEventsTableHook(
        name,
        is_money_attribute=lambda attribute: attribute == "boat",
        scrub_notes=lambda text: "".join(line for line in text.splitlines(keepends=True) if "MONEY" not in line),
    )
    report = hook.scrub_event("evt-7")
    assert report.removed_attributes == ["boat"]
    item = read(table, "evt-7")
    assert item is not None
    assert "boat" not in item
    assert item["notes"] == {"S": "keep\nkeep too"}


def test_missing_table_is_rejected_without_secrets(aws_conn: str) -> None:
    with pytest.raises(ServiceRejected) as raised:
        SccEventsTableHook(unique("no-such-table")).scrub_event("evt-1")
    assert "no-such-table" in str(raised.value)
    assert AWS_SECRET_KEY not in str(raised.value)
