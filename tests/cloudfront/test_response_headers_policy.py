"""include/cloudfront/response-headers-policy.json: a config CloudFront accepts, as strict as the page allows."""

from __future__ import annotations

import json
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ParamValidationError
from botocore.validate import validate_parameters

from sandbox.preview import RESPONSE_HEADERS_POLICY, policy_headers


@pytest.fixture(scope="module")
def policy() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(RESPONSE_HEADERS_POLICY.read_text(encoding="utf-8"))
    return loaded


def _validate(config: dict[str, Any]) -> None:
    model = botocore.session.get_session().get_service_model("cloudfront")
    shape = model.operation_model("CreateResponseHeadersPolicy").input_shape
    assert shape is not None
    validate_parameters({"ResponseHeadersPolicyConfig": config}, shape)


def test_it_is_what_create_response_headers_policy_takes(policy: dict[str, Any]) -> None:
    _validate(policy)
    with pytest.raises(ParamValidationError):
        _validate({**policy, "SecurityHeadersConfig": {"ReferrerPolicy": {"ReferrerPolicy": "no-referrer"}}})


def test_every_header_overrides_what_the_bucket_says(policy: dict[str, Any]) -> None:
    assert all(entry["Override"] is True for entry in policy["SecurityHeadersConfig"].values())
    assert all(item["Override"] is True for item in policy["CustomHeadersConfig"]["Items"])
    assert policy["CustomHeadersConfig"]["Quantity"] == len(policy["CustomHeadersConfig"]["Items"])


def test_headers_keep_guest_pages_private_and_locked_down(policy: dict[str, Any]) -> None:
    headers = policy_headers(policy)

    assert headers["X-Robots-Tag"] == "noindex, nofollow"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Strict-Transport-Security"].startswith("max-age=")
    assert int(headers["Strict-Transport-Security"].split(";")[0].removeprefix("max-age=")) >= 31536000
    directives = {
        part.split()[0]: part.split()[1:] for part in headers["Content-Security-Policy"].split(";") if part.strip()
    }
    assert directives == {
        "default-src": ["'none'"],
        "style-src": ["'unsafe-inline'"],
        "img-src": ["data:"],
        "base-uri": ["'none'"],
        "form-action": ["'none'"],
        "frame-ancestors": ["'none'"],
    }
