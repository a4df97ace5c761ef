#!/usr/bin/env python3
"""Send one booking (or a batch) to the booking webhook, signed as CONTRACT.md section 14 says. Standard library only.

    python3 bin/send_booking_webhook.py '{"booking_id": "BS-1", ...}'     # or @booking.json, or - for stdin
    make webhook BOOKING=@booking.json                                     # the same, against `make run`

The body is sent exactly as given (a booking object, an array of them, or {"bookings": [...]}), with
``X-Charter-Signature: t=<now>,v1=<HMAC-SHA256 of "<t>.<body>">``. Settings from the environment:
``CHARTER_WEBHOOK_URL`` (the function URL; ``--url`` overrides) and ``CHARTER_WEBHOOK_SECRET`` (one secret).
A 503 or a dropped connection is retried with the same body (each try signed anew), so the webhook stores it once.

Prints the HTTP status and the answer; exits 0 on a 2xx (the bookings are stored), 1 otherwise, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.error
import urllib.request

RETRIED = (502, 503, 504)


def signature(body: bytes, secret: str, timestamp: int) -> str:
    """The X-Charter-Signature header for ``body`` at ``timestamp``."""
    digest = hmac.new(secret.strip().encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def send(url: str, body: bytes, secret: str, *, retries: int = 3, timeout: float = 30) -> tuple[int, str]:
    """POST ``body`` signed with ``secret``; returns the status and the answer's text (after any retries)."""
    for attempt in range(retries + 1):
        signed = signature(body, secret, int(time.time()))
        headers = {"Content-Type": "application/json", "X-Charter-Signature": signed}
        request = urllib.request.Request(url, data=body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode("utf-8", "replace")
            if status not in RETRIED or attempt == retries:
                return status, text
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            if attempt == retries:
                reason = getattr(error, "reason", error)
                return 0, json.dumps({"error": f"could not reach {url}: {reason}"})
        time.sleep(min(2**attempt, 10))
    raise AssertionError("unreachable")


def read_body(argument: str) -> bytes:
    """The body: ``@file``, ``-`` (stdin) or the JSON text itself."""
    if argument == "-":
        return sys.stdin.buffer.read()
    if argument.startswith("@"):
        with open(argument[1:], "rb") as handle:
            return handle.read()
    return argument.encode("utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("booking", help="the JSON body, @file, or - for stdin")
    parser.add_argument("--url", default=os.environ.get("CHARTER_WEBHOOK_URL", ""), help="(CHARTER_WEBHOOK_URL)")
    parser.add_argument("--retries", type=int, default=3, help="tries again after a 503 or a dropped connection")
    args = parser.parse_args(argv)
    secret = os.environ.get("CHARTER_WEBHOOK_SECRET", "")
    if not args.url or not secret.strip():
        print("set CHARTER_WEBHOOK_URL (or --url) and CHARTER_WEBHOOK_SECRET", file=sys.stderr)
        return 2
    try:
        body = read_body(args.booking)
    except OSError as error:
        print(f"cannot read {args.booking}: {error.strerror}", file=sys.stderr)
        return 2
    status, text = send(args.url, body, secret, retries=max(args.retries, 0))
    try:
        shown = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        shown = text
    print(f"HTTP {status or 'error'}")
    print(shown)
    return 0 if 200 <= status < 300 else 1


if __name__ == "__main__":
    sys.exit(main())
