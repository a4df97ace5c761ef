"""include/cloudfront/guest-rewrite.js under node, loaded as CloudFront loads it: one script evaluated in a bare
``vm`` context (no require, no module, no timers), then ``handler(event)`` per request (CONTRACT.md section 7).
"""

from __future__ import annotations

import copy
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.preview import GUEST_REWRITE_JS, FunctionError, ViewerRequestFunction, viewer_request_event

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is missing (make system-deps installs it)")

HEADERS = {"Host": "queenofsandiego.com", "User-Agent": "Mozilla/5.0 (iPhone)", "Accept": "text/html"}


@pytest.fixture(scope="module")
def rewrite() -> Iterator[ViewerRequestFunction]:
    with ViewerRequestFunction(GUEST_REWRITE_JS) as function:
        yield function


def event_for(path: str) -> dict[str, Any]:
    event = viewer_request_event("GET", path, HEADERS, viewer_ip="198.51.100.7")
    event["request"]["cookies"] = {"session": {"value": "abc"}}
    return event


@pytest.mark.parametrize(
    ("path", "uri"),
    [
        ("/g/7K3QX9MZ2ABCD", "/jada-guest-7K3QX9MZ2ABCD.html"),
        ("/g/7k3qx9mz2abcd", "/jada-guest-7K3QX9MZ2ABCD.html"),
        ("/g/7k3Qx9mZ2aBcD", "/jada-guest-7K3QX9MZ2ABCD.html"),
        ("/g/7K3QX9MZ2ABCD/", "/jada-guest-7K3QX9MZ2ABCD.html"),
        ("/g/7k3qx9mz2abcd/", "/jada-guest-7K3QX9MZ2ABCD.html"),
        ("/g/ABC1234", "/jada-guest-ABC1234.html"),  # the older 7-letter pages keep working
        ("/g/abcdefg/", "/jada-guest-ABCDEFG.html"),
        ("/g/" + "a1" * 13, "/jada-guest-" + "A1" * 13 + ".html"),  # 26, the longest accepted
        ("/g/ILOU0000000", "/jada-guest-ILOU0000000.html"),  # letters and digits, not only Crockford's
    ],
)
def test_guest_addresses_become_page_objects(rewrite: ViewerRequestFunction, path: str, uri: str) -> None:
    event = event_for(path)
    result = rewrite(event)

    assert "statusCode" not in result
    assert result["uri"] == uri
    unchanged = {key: value for key, value in event["request"].items() if key != "uri"}
    assert {key: value for key, value in result.items() if key != "uri"} == unchanged


@pytest.mark.parametrize(
    "path",
    [
        "/g",
        "/g/",
        "/g//",
        "/g/ABC123",  # 6
        "/g/" + "A" * 27,
        "/g/ABC/extra",
        "/g/7K3QX9MZ2ABCD/extra",
        "/g/7K3QX9MZ2ABCD//",
        "/g//7K3QX9MZ2ABCD",
        "/g/7K3QX9MZ2-ABCD",
        "/g/7K3QX9MZ2_ABCD",
        "/g/7K3QX9MZ2ABCD.html",
        "/g/7K3QX9MZ2%41BCD",
        "/g/7K3QX9MZ2ABC%20",
        "/g/ÄBCDEFGHJKMNP",
        "/g/../jada-guest-7K3QX9MZ2ABCD.html",
        "/g/7K3QX9MZ2ABCD;x",
    ],
)
def test_any_other_guest_path_is_answered_404(rewrite: ViewerRequestFunction, path: str) -> None:
    result = rewrite(event_for(path))

    assert result["statusCode"] == 404
    assert result["statusDescription"] == "Not Found"
    headers = result["headers"]
    assert all(name == name.lower() and set(value) == {"value"} for name, value in headers.items())
    assert headers["content-type"]["value"] == "text/html; charset=utf-8"
    assert headers["x-robots-tag"]["value"] == "noindex, nofollow"
    assert "default-src 'none'" in headers["content-security-policy"]["value"]
    assert result["body"]["encoding"] == "text"
    assert "Page not found" in result["body"]["data"]
    assert "uri" not in result


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/index.html",
        "/gallery",
        "/gift-cards/",
        "/g.html",
        "/G/7K3QX9MZ2ABCD",
        "/about/g/7K3QX9MZ2ABCD",
        "/jada-guest-7K3QX9MZ2ABCD.html",
        "/favicon.ico",
    ],
)
def test_other_paths_pass_unchanged(rewrite: ViewerRequestFunction, path: str) -> None:
    event = event_for(path)

    assert rewrite(event) == event["request"]


@pytest.mark.parametrize(
    ("path", "uri"),
    [
        ("/g/7k3qx9mz2abcd?utm_source=sms&utm_campaign=dec", "/jada-guest-7K3QX9MZ2ABCD.html"),
        ("/g/7k3qx9mz2abcd/?a=1&a=2&empty=", "/jada-guest-7K3QX9MZ2ABCD.html"),
        ("/index.html?ref=%2Fg%2Fabc", "/index.html"),
    ],
)
def test_query_strings_pass_untouched(rewrite: ViewerRequestFunction, path: str, uri: str) -> None:
    event = event_for(path)
    querystring = copy.deepcopy(event["request"]["querystring"])
    result = rewrite(event)

    assert querystring
    assert "?" not in event["request"]["uri"]
    assert result["uri"] == uri
    assert result["querystring"] == querystring


def test_a_bad_id_with_a_query_string_is_still_404(rewrite: ViewerRequestFunction) -> None:
    assert rewrite(event_for("/g/ABC?id=7K3QX9MZ2ABCD"))["statusCode"] == 404


def test_source_uses_only_what_cloudfront_js_2_has() -> None:
    source = GUEST_REWRITE_JS.read_text(encoding="utf-8")
    code = re.sub(r"^\s*//.*$", "", source, flags=re.M)

    assert re.search(r"^function handler\(event\) \{", code, flags=re.M)
    for missing in (
        r"\brequire\s*\(",
        r"\bmodule\b",
        r"\bexports\b",
        r"^\s*import\b",
        r"^\s*export\b",
        r"\bimport\s*\(",
        r"\bfetch\s*\(",
        r"\bsetTimeout\b",
        r"\bsetInterval\b",
        r"\bsetImmediate\b",
        r"\bprocess\.",
        r"\bBuffer\b",
        r"\bXMLHttpRequest\b",
    ):
        assert not re.search(missing, code, flags=re.M), missing
    # CloudFront Functions refuses code larger than 10 KB.
    assert len(source.encode("utf-8")) < 10 * 1024


def test_the_harness_is_as_bare_as_cloudfront(tmp_path: Path) -> None:
    # If the harness offered node's extras, the checks above could pass on a function CloudFront rejects.
    probe = tmp_path / "probe.js"
    probe.write_text(
        "function handler(event) {\n"
        "  return { uri: [typeof require, typeof module, typeof exports, typeof setTimeout, typeof fetch,\n"
        "                 typeof process, typeof Buffer].join(',') };\n"
        "}\n",
        encoding="utf-8",
    )
    with ViewerRequestFunction(probe) as function:
        assert function(event_for("/"))["uri"] == ",".join(["undefined"] * 7)

    uses_require = tmp_path / "uses_require.js"
    uses_require.write_text("var fs = require('fs');\nfunction handler(event) { return event.request; }\n")
    with ViewerRequestFunction(uses_require) as function, pytest.raises(FunctionError, match="require is not defined"):
        function(event_for("/"))


def test_a_function_that_never_returns_is_stopped(tmp_path: Path) -> None:
    spin = tmp_path / "spin.js"
    spin.write_text("function handler(event) { for (;;) {} }\n", encoding="utf-8")
    with ViewerRequestFunction(spin) as function, pytest.raises(FunctionError, match="timed out"):
        function(event_for("/"))
