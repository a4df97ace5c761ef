"""The DAG's params as Airflow's API server checks them when a run is triggered (the UI form and REST alike).

A trigger goes through ``SerializedDAG.create_dagrun``, which validates ``params.deep_merge(conf)``: a bad form
field is refused there (HTTP 400 through REST) naming the param; conf ``booking`` is checked only for being an
object, so a bad field inside it reaches the pipeline's own check, which names the column (tests/e2e).
"""

from __future__ import annotations

from typing import Any

import pytest

from charter_pipeline.trigger_form import FORM_FIELDS, TRIGGER_PARAMS
from tests.dags.integrity import REPO

PIPELINE_FILE = REPO / "dags" / "charter_booking_pipeline.py"
BAD_FORM_VALUES = {
    "booking_id": "B" * 65, "status": "approved-ish", "boat": "", "renter_name": "R" * 201,
    "trip_date": "12/18/2026", "start_time": "25:99", "duration_hours": "25", "passengers": "0",
    "gross": "-50", "captain": "C" * 201, "renter_email": "e" * 255, "renter_phone": "5" * 65,
}  # fmt: skip


@pytest.fixture(scope="module")
def served_params() -> Any:
    """The pipeline DAG's params after a round trip through serialization, as the API server holds them."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    bag = DagBag(dag_folder=str(PIPELINE_FILE))
    assert not bag.import_errors, bag.import_errors
    served = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(bag.dags["charter_booking_pipeline"]))
    return served.params


def test_the_dag_offers_the_forms_fields_then_the_json_booking(served_params: Any) -> None:
    assert list(served_params) == list(TRIGGER_PARAMS)
    assert list(served_params)[-1] == "booking"
    for name in FORM_FIELDS:
        param = served_params.get_param(name)
        assert param.schema["section"] == "Booking to process now"
        assert param.description, name


def test_an_empty_form_and_a_conf_booking_pass_the_trigger_check(served_params: Any) -> None:
    assert set(served_params.deep_merge({}).validate().values()) == {None}
    booking = {"booking_id": "BS-1", "passengers": 0, "Trip Date": "13/45/2026"}  # the pipeline refuses it later
    assert served_params.deep_merge({"booking": booking}).validate()["booking"] == booking


@pytest.mark.parametrize("name", list(BAD_FORM_VALUES))
def test_each_bad_form_field_is_refused_at_trigger_naming_it(served_params: Any, name: str) -> None:
    from airflow.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match=rf"^Invalid input for param {name}: "):
        served_params.deep_merge({name: BAD_FORM_VALUES[name]}).validate()


def test_a_booking_that_is_not_an_object_is_refused_at_trigger(served_params: Any) -> None:
    from airflow.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match=r"^Invalid input for param booking: "):
        served_params.deep_merge({"booking": "BS-1"}).validate()
