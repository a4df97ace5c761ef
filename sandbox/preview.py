"""The guest-site preview: what a guest's browser would get from CloudFront, served on loopback.

Each request runs the project's own CloudFront Function (include/cloudfront/guest-rewrite.js) under node, in a
``vm`` context as bare as CloudFront's (no require, no module, no timers), then answers with the S3 object the
rewritten uri names, from the guest bucket on the given S3 endpoint (moto in the sandbox), carrying the headers
of include/cloudfront/response-headers-policy.json so the browser enforces the production CSP.

``/`` lists the guest pages in the bucket, each linked at its ``/g/<SESSION_ID>`` address (the preview's own page).

    python -m sandbox.preview --port 8090 --s3-endpoint http://127.0.0.1:5000 --bucket queenofsandiego.com

Never imported by the pipeline.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import html
import json
import queue
import re
import subprocess
import threading
import uuid
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from urllib.parse import unquote, urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from sandbox.serving import BackgroundServer

REPO = Path(__file__).resolve().parents[1]
GUEST_REWRITE_JS = REPO / "include" / "cloudfront" / "guest-rewrite.js"
RESPONSE_HEADERS_POLICY = REPO / "include" / "cloudfront" / "response-headers-policy.json"
DEFAULT_PORT = 8090
DEFAULT_S3_ENDPOINT = "http://127.0.0.1:5000"
DEFAULT_BUCKET = "queenofsandiego.com"

# Loads the function the way CloudFront does: one script in a fresh context with only the language built-ins
# (plus console), then handler(event) per request. One JSON event per stdin line, one JSON reply per stdout line.
_NODE_RUNNER = r"""
'use strict';
const fs = require('fs');
const vm = require('vm');
const readline = require('readline');
const file = process.argv[1];
const log = (...parts) => process.stderr.write(parts.map(String).join(' ') + '\n');
const context = vm.createContext({ console: { log: log, info: log, warn: log, error: log } });
let loadError = null;
try {
  vm.runInContext(fs.readFileSync(file, 'utf8'), context, { filename: file, timeout: 1000 });
  if (typeof context.handler !== 'function') loadError = 'the file defines no handler(event) function';
} catch (e) {
  loadError = String((e && e.stack) || e);
}
const reply = (value) => process.stdout.write(JSON.stringify(value) + '\n');
const lines = readline.createInterface({ input: process.stdin });
let chain = Promise.resolve();
lines.on('line', (line) => {
  chain = chain.then(async () => {
    if (loadError) return reply({ ok: false, error: 'load: ' + loadError });
    try {
      context.__previewEvent = line;
      let result = vm.runInContext('handler(JSON.parse(__previewEvent))', context, { timeout: 1000 });
      delete context.__previewEvent;
      if (result && typeof result.then === 'function') result = await result;
      reply({ ok: true, result: result === undefined ? null : result });
    } catch (e) {
      reply({ ok: false, error: String((e && e.message) || e) });
    }
  });
});
"""


class FunctionError(RuntimeError):
    """The CloudFront Function failed to load, threw, or returned nothing usable (CloudFront answers 503)."""


class ViewerRequestFunction:
    """A CloudFront Function kept loaded in one node process; call it with a viewer-request event.

    The file is reloaded when it changes on disk, so editing the function and refreshing the browser works.
    """

    def __init__(self, path: Path = GUEST_REWRITE_JS, *, node: str = "node", reply_timeout: float = 5.0) -> None:
        self.path = Path(path)
        self.node = node
        self.reply_timeout = reply_timeout
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self._replies: queue.Queue[str | None] = queue.Queue()
        self._loaded_mtime: float | None = None

    def __call__(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """Run ``handler(event)``; the result is the (possibly changed) request or a response object."""
        with self._lock:
            process = self._ensure_process()
            assert process.stdin is not None
            try:
                process.stdin.write(json.dumps(event) + "\n")
                process.stdin.flush()
                line = self._replies.get(timeout=self.reply_timeout)
            except (OSError, queue.Empty):
                self._stop_process()
                raise FunctionError("the function did not answer") from None
            if line is None:
                self._stop_process()
                raise FunctionError("node exited while running the function")
            answer = json.loads(line)
        if not answer.get("ok"):
            raise FunctionError(str(answer.get("error")))
        result = answer.get("result")
        if not isinstance(result, dict):
            raise FunctionError("handler(event) returned neither a request nor a response object")
        return result

    def close(self) -> None:
        """Stop the node process."""
        with self._lock:
            self._stop_process()

    def __enter__(self) -> ViewerRequestFunction:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _ensure_process(self) -> subprocess.Popen[str]:
        mtime = self.path.stat().st_mtime
        if self._process is not None and (self._process.poll() is not None or mtime != self._loaded_mtime):
            self._stop_process()
        if self._process is None:
            self._replies = queue.Queue()
            self._process = subprocess.Popen(
                [self.node, "-e", _NODE_RUNNER, str(self.path)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                encoding="utf-8",
                bufsize=1,
            )
            self._loaded_mtime = mtime
            assert self._process.stdout is not None
            threading.Thread(
                target=_pump_lines, args=(self._process.stdout, self._replies), name="cloudfront-function", daemon=True
            ).start()
        return self._process

    def _stop_process(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
        try:
            process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _pump_lines(stream: IO[str], replies: queue.Queue[str | None]) -> None:
    for line in stream:
        replies.put(line)
    replies.put(None)


def viewer_request_event(
    method: str, raw_path: str, headers: Mapping[str, str], viewer_ip: str = "127.0.0.1"
) -> dict[str, Any]:
    """The CloudFront Functions event for one HTTP request (event structure version 1.0, viewer-request)."""
    parts = urlsplit(raw_path)
    querystring: dict[str, Any] = {}
    for pair in filter(None, parts.query.split("&")):
        name, _, value = pair.partition("=")
        if name in querystring:
            entry = querystring[name]
            entry.setdefault("multiValue", [{"value": entry["value"]}]).append({"value": value})
        else:
            querystring[name] = {"value": value}
    event_headers: dict[str, Any] = {}
    for name, value in headers.items():
        key = name.lower()
        if key in event_headers:
            entry = event_headers[key]
            entry.setdefault("multiValue", [{"value": entry["value"]}]).append({"value": value})
        else:
            event_headers[key] = {"value": value}
    return {
        "version": "1.0",
        "context": {"distributionId": "PREVIEW", "eventType": "viewer-request", "requestId": uuid.uuid4().hex},
        "viewer": {"ip": viewer_ip},
        "request": {
            "method": method,
            "uri": parts.path or "/",
            "querystring": querystring,
            "headers": event_headers,
            "cookies": {},
        },
    }


def policy_headers(policy: Mapping[str, Any]) -> dict[str, str]:
    """The HTTP headers a CloudFront ResponseHeadersPolicyConfig adds to a response."""
    headers: dict[str, str] = {}
    security = policy.get("SecurityHeadersConfig") or {}
    if csp := security.get("ContentSecurityPolicy"):
        headers["Content-Security-Policy"] = csp["ContentSecurityPolicy"]
    if referrer := security.get("ReferrerPolicy"):
        headers["Referrer-Policy"] = referrer["ReferrerPolicy"]
    if hsts := security.get("StrictTransportSecurity"):
        value = f"max-age={hsts['AccessControlMaxAgeSec']}"
        if hsts.get("IncludeSubdomains"):
            value += "; includeSubDomains"
        if hsts.get("Preload"):
            value += "; preload"
        headers["Strict-Transport-Security"] = value
    if security.get("ContentTypeOptions"):
        headers["X-Content-Type-Options"] = "nosniff"
    if frame := security.get("FrameOptions"):
        headers["X-Frame-Options"] = frame["FrameOption"]
    if xss := security.get("XSSProtection"):
        value = "1" if xss.get("Protection") else "0"
        if xss.get("ModeBlock"):
            value += "; mode=block"
        headers["X-XSS-Protection"] = value
    for item in (policy.get("CustomHeadersConfig") or {}).get("Items") or []:
        headers[item["Header"]] = item["Value"]
    return headers


_PAGE_PREFIX = "jada-guest-"
_INDEX_LIMIT = 500
_TITLE_BYTES = 64 * 1024
_TITLE = re.compile(r"<title>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def _index_page(bucket: str, pages: list[tuple[str, str, str]]) -> bytes:
    """The preview's ``/``: a link per guest page, newest first; inline styles only (all the policy's CSP allows)."""
    rows = "".join(
        f'<tr><td><a href="/g/{html.escape(session_id)}">/g/{html.escape(session_id)}</a></td>'
        f"<td>{html.escape(title)}</td><td>{html.escape(modified)}</td></tr>"
        for session_id, modified, title in pages
    )
    table = (
        f'<table style="border-spacing:16px 4px;margin-left:-16px"><tr><th align="left">address</th>'
        f'<th align="left">title</th><th align="left">uploaded</th></tr>{rows}</table>'
        if pages
        else "<p>No guest pages yet: they appear here once the pipeline has published a booking.</p>"
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="robots" content="noindex, nofollow"><title>Guest pages (local preview)</title></head>'
        '<body style="font-family:sans-serif;margin:2em">'
        f"<h1>Guest pages in {html.escape(bucket)}</h1>"
        f"<p>{len(pages)} page(s). This list is the local preview's own; the real guest site has no index.</p>"
        f"{table}</body></html>"
    ).encode()


def _not_found_page() -> bytes:
    return (
        b'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        b'<meta name="robots" content="noindex, nofollow"><title>Page not found</title></head>'
        b"<body><h1>Page not found</h1></body></html>"
    )


class GuestSitePreview(BackgroundServer):
    """The preview server. ``start()`` serves it from a daemon thread and returns its URL; ``stop()`` ends it."""

    thread_name = "guest-site-preview"

    def __init__(
        self,
        s3_endpoint: str = DEFAULT_S3_ENDPOINT,
        bucket: str = DEFAULT_BUCKET,
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        function_path: Path = GUEST_REWRITE_JS,
        policy_path: Path = RESPONSE_HEADERS_POLICY,
        region: str = "us-east-1",
        log_requests: bool = False,
    ) -> None:
        self.bucket = bucket
        self.function = ViewerRequestFunction(function_path)
        self.policy_path = Path(policy_path)
        self.log_requests = log_requests
        session = boto3.session.Session()
        # A local emulator takes any key; with none configured there is nothing real to sign with anyway.
        stand_in_key = "preview" if session.get_credentials() is None else None
        self.s3 = session.client(
            "s3",
            endpoint_url=s3_endpoint,
            region_name=region,
            aws_access_key_id=stand_in_key,
            aws_secret_access_key=stand_in_key,
            config=Config(
                s3={"addressing_style": "path"}, connect_timeout=5, read_timeout=10, retries={"max_attempts": 2}
            ),
        )
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True

    def headers(self) -> dict[str, str]:
        """The response headers policy as HTTP headers, read fresh so policy edits show on the next request."""
        return policy_headers(json.loads(self.policy_path.read_text(encoding="utf-8")))

    def stop(self) -> None:
        """Stop serving and stop node."""
        super().stop()
        self.function.close()

    def respond(self, method: str, raw_path: str, headers: Mapping[str, str]) -> tuple[int, dict[str, str], bytes]:
        """What the guest site answers: (status, headers, body). The body is empty for HEAD.

        ``/`` is the preview's own page, the list of guest pages in the bucket (CloudFront has no such page)."""
        if urlsplit(raw_path).path == "/" and method in ("GET", "HEAD"):
            return self._index(method)
        event = viewer_request_event(method, raw_path, headers)
        try:
            result = self.function(event)
        except FunctionError:
            return self._error(HTTPStatus.SERVICE_UNAVAILABLE, b"The CloudFront Function failed.", method)
        if "statusCode" in result:
            return self._function_response(result, method)
        if method not in ("GET", "HEAD"):
            return self._error(HTTPStatus.METHOD_NOT_ALLOWED, b"Only GET and HEAD.", method)
        key = unquote(str(result.get("uri", "/"))).lstrip("/")
        if not key:
            return self._error(HTTPStatus.NOT_FOUND, _not_found_page(), method, html=True)
        try:
            found = self.s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("NoSuchKey", "404", "NotFound", "NoSuchBucket", "AccessDenied", "403"):
                return self._error(HTTPStatus.NOT_FOUND, _not_found_page(), method, html=True)
            return self._error(HTTPStatus.BAD_GATEWAY, b"The bucket could not be read.", method)
        except BotoCoreError:
            return self._error(HTTPStatus.BAD_GATEWAY, b"The bucket could not be reached.", method)
        body = found["Body"].read()
        out = {"Content-Type": found.get("ContentType") or "binary/octet-stream", "Content-Length": str(len(body))}
        if found.get("CacheControl"):
            out["Cache-Control"] = found["CacheControl"]
        if found.get("ETag"):
            out["ETag"] = found["ETag"]
        out.update(self.headers())
        return HTTPStatus.OK, out, b"" if method == "HEAD" else body

    def _index(self, method: str) -> tuple[int, dict[str, str], bytes]:
        pages: list[tuple[str, str, str]] = []
        try:
            listing = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=_PAGE_PREFIX)
            for page in listing:
                for item in page.get("Contents", []):
                    key = str(item["Key"])
                    if key.endswith(".html") and len(pages) < _INDEX_LIMIT:
                        modified = item["LastModified"].strftime("%Y-%m-%d %H:%M:%S UTC")
                        pages.append((key[len(_PAGE_PREFIX) : -len(".html")], modified, self._title(key)))
        except (ClientError, BotoCoreError):
            return self._error(HTTPStatus.BAD_GATEWAY, b"The bucket could not be read.", method)
        body = _index_page(self.bucket, sorted(pages, key=lambda p: p[1], reverse=True))
        out = {
            "Content-Type": "text/html; charset=utf-8",
            "Content-Length": str(len(body)),
            "Cache-Control": "no-store",
        }
        out.update(self.headers())
        return HTTPStatus.OK, out, b"" if method == "HEAD" else body

    def _title(self, key: str) -> str:
        """The page's <title>, read from its start; "" when there is none. A guest page's title follows about 6 KB
        of inline style, so the first _TITLE_BYTES are read (a guest page is about 10 KB in all)."""
        with contextlib.suppress(ClientError, BotoCoreError):
            head = self.s3.get_object(Bucket=self.bucket, Key=key, Range=f"bytes=0-{_TITLE_BYTES - 1}")["Body"].read()
            if match := _TITLE.search(head.decode("utf-8", "replace")):
                return " ".join(html.unescape(match.group(1)).split())
        return ""

    def _function_response(self, result: Mapping[str, Any], method: str) -> tuple[int, dict[str, str], bytes]:
        out: dict[str, str] = {}
        for name, entry in (result.get("headers") or {}).items():
            out[name] = str(entry.get("value", ""))
        lowered = {name.lower() for name in out}
        out.update({name: value for name, value in self.headers().items() if name.lower() not in lowered})
        body = result.get("body")
        if isinstance(body, Mapping):
            data = str(body.get("data", ""))
            raw = base64.b64decode(data) if body.get("encoding") == "base64" else data.encode("utf-8")
        else:
            raw = str(body or "").encode("utf-8")
        out["Content-Length"] = str(len(raw))
        return int(result["statusCode"]), out, b"" if method == "HEAD" else raw

    def _error(
        self, status: HTTPStatus, body: bytes, method: str, *, html: bool = False
    ) -> tuple[int, dict[str, str], bytes]:
        headers = {
            "Content-Type": "text/html; charset=utf-8" if html else "text/plain; charset=utf-8",
            "Content-Length": str(len(body)),
            "Cache-Control": "no-store",
            **self.headers(),
        }
        return status, headers, b"" if method == "HEAD" else body


def _handler_for(preview: GuestSitePreview) -> type[BaseHTTPRequestHandler]:
    class GuestSiteHandler(BaseHTTPRequestHandler):
        server_version = "guest-site-preview"
        sys_version = ""

        def _serve(self) -> None:
            status, headers, body = preview.respond(self.command, self.path, dict(self.headers.items()))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            if body:
                self.wfile.write(body)

        do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_OPTIONS = do_PATCH = _serve

        def log_message(self, format: str, *args: Any) -> None:
            if preview.log_requests:
                super().log_message(format, *args)

    return GuestSiteHandler


def main(argv: list[str] | None = None) -> None:
    """``python -m sandbox.preview``: serve the guest site until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m sandbox.preview", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument(
        "--s3-endpoint",
        default=DEFAULT_S3_ENDPOINT,
        help=f"S3 endpoint URL (default {DEFAULT_S3_ENDPOINT})",
    )
    parser.add_argument("--bucket", default=DEFAULT_BUCKET, help=f"guest bucket (default {DEFAULT_BUCKET})")
    args = parser.parse_args(argv)
    preview = GuestSitePreview(args.s3_endpoint, args.bucket, host=args.host, port=args.port, log_requests=True)
    print(
        f"Guest site preview on {preview.url}/g/<session id>  (bucket {args.bucket} at {args.s3_endpoint})", flush=True
    )
    with contextlib.suppress(KeyboardInterrupt):
        preview.serve_forever()


if __name__ == "__main__":
    main()
