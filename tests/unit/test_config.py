"""The charter_pipeline Variable: defaults, merging, and errors that name the key."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from charter_pipeline.config import DEFAULTS, ConfigError, CrewMember, load_config


def test_nothing_set_means_the_contract_defaults() -> None:
    config = load_config(None)
    assert config.exports_uri == "s3://jada-boatsetter-exports/incoming/"
    assert config.ledger_table == "charter-booking-ledger"
    assert config.cloudfront_distribution_id == ""
    assert config.rates.port_fee_percent == Decimal("18")
    assert config.rates.crew_hourly == Decimal("25.00")
    assert config.checkin_lead_minutes == 30
    assert config.max_bookings_per_run == 100
    assert config.guest_url("ABCDEFGHJKMNP") == "https://queenofsandiego.com/g/ABCDEFGHJKMNP"
    assert load_config("") == config
    assert load_config(json.dumps(DEFAULTS)) == config


def test_a_deployment_sets_only_what_differs() -> None:
    config = load_config(
        {
            "rates": {"captain_hourly": "60.00"},
            "emergency_contact": {"phone": "+1 619 555 0111"},
            "exports_uri": "file:///srv/exports",
            "crew_roster": {"Marina Star": {"captain": {"name": "Rosa Alvarez", "email": "rosa@example.com"}}},
        }
    )
    assert config.rates.captain_hourly == Decimal("60.00")
    assert config.rates.crew_hourly == Decimal("25.00")  # untouched keys keep their default
    assert config.emergency_contact.name == "JADA Charters operations"
    assert config.exports_uri == "file:///srv/exports/"
    assert config.crew_for_boat("marina star").captain == CrewMember("Rosa Alvarez", "rosa@example.com")
    assert config.crew_for_boat("Unknown Boat").captain is None  # the default entry's empty captain


@pytest.mark.parametrize(
    ("raw", "names"),
    [
        ({"exprots_uri": "s3://x/"}, "unknown key(s) exprots_uri"),
        ({"exports_uri": "http://example.com/"}, "exports_uri:"),
        ({"timezone": "Mars/Olympus"}, "timezone:"),
        ({"rates": {"crew_hourly": 25.5}}, "rates.crew_hourly:"),
        ({"rates": {"port_fee_percent": "180"}}, "rates.port_fee_percent:"),
        ({"rates": {"tip_percent": "10"}}, "rates: unknown key(s) tip_percent"),
        ({"max_bookings_per_run": 0}, "max_bookings_per_run:"),
        ({"checkin_lead_minutes": True}, "checkin_lead_minutes:"),
        ({"guest_base_url": "https://queenofsandiego.com/g"}, "guest_base_url:"),
        ({"crew_roster": {"default": {"crew": [{"name": "Kim", "email": "not-an-address"}]}}}, "crew[0].email"),
        ("{not json", "not valid JSON"),
        ([], "must be a JSON object"),
    ],
)
def test_a_bad_value_is_refused_naming_the_key(raw: object, names: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_config(raw)  # type: ignore[arg-type]
    assert names in str(refused.value)
