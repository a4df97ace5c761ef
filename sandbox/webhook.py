"""The booking webhook on loopback: HTTP in, a Lambda function URL event (payload 2.0) to the very handler out.

``WebhookReceiver`` is what ``make run`` and every ``SandboxStack`` serve (CONTRACT.md section 14: "``make run``
serves the same handler locally"). It turns each request into the event AWS would hand the function, calls
``charter_pipeline.webhook.respond`` (what ``handler`` calls in Lambda) and sends the answer back as it came.
Until ``deliver_to`` names the exports location it answers 503, as a function without its settings would.

``lambda_package()`` builds the function's zip from the handler's import closure, measured in a process where
Airflow cannot be imported (sandbox/bootstrap.py deploys it).

Run alone, configured as the Lambda function is (``CHARTER_EXPORTS_URI``, ``CHARTER_WEBHOOK_SECRETS``,
``CHARTER_TIMEZONE``, ``AWS_ENDPOINT_URL`` and the AWS keys in the environment):
``python -m sandbox.webhook --port 8084``.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sandbox.serving import BackgroundServer

if TYPE_CHECKING:
    from charter_pipeline.webhook import Settings

REPO = Path(__file__).resolve().parents[1]
PLUGINS = REPO / "plugins"
DEFAULT_WEBHOOK_SECRET = "sandbox-webhook-secret-3Hq8"
HANDLER = "charter_pipeline.webhook.handler"
# A function URL accepts up to 6 MB; the handler itself refuses anything over 256 KiB (413).
_MAX_REQUEST_BYTES = 6 * 1024 * 1024

# Run in a fresh interpreter where importing Airflow fails: prints the handler's package modules as files.
_CLOSURE_SCRIPT = """
import importlib.abc, json, sys
class NoAirflow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "airflow" or name.startswith("airflow."):
            raise ImportError("the webhook must not import Airflow")
sys.meta_path.insert(0, NoAirflow())
sys.path.insert(0, sys.argv[1])
import charter_pipeline.webhook
print(json.dumps(sorted(m.__file__ for n, m in sys.modules.items() if n.split(".")[0] == "charter_pipeline")))
"""


@dataclass(frozen=True)
class LambdaPackage:
    """The function's code: zip bytes and the files in it (paths inside the zip)."""

    zip_bytes: bytes
    files: tuple[str, ...]

    @property
    def modules(self) -> tuple[str, ...]:
        """The package modules in the zip (tzdata aside)."""
        return tuple(f for f in self.files if f.startswith("charter_pipeline/"))


def lambda_package() -> LambdaPackage:
    """The handler and the package modules it imports (never Airflow), plus ``tzdata`` (newer Lambda runtimes have
    no system time zone database). Entries carry a fixed date, so the same code gives the same zip."""
    done = subprocess.run(
        [sys.executable, "-c", _CLOSURE_SCRIPT, str(PLUGINS)], capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"the webhook's modules do not import without Airflow: {done.stderr.strip()[-500:]}")
    files = [Path(name) for name in json.loads(done.stdout)]
    entries = {str(path.relative_to(PLUGINS)): path for path in files}
    import tzdata  # type: ignore[import-untyped]

    tz_root = Path(tzdata.__file__).parent
    for path in sorted(tz_root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            entries[str(Path("tzdata") / path.relative_to(tz_root))] = path
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, entries[name].read_bytes())
    return LambdaPackage(buffer.getvalue(), tuple(sorted(entries)))


def function_url_event(
    method: str, target: str, headers: list[tuple[str, str]], body: bytes, *, source_ip: str = "127.0.0.1"
) -> dict[str, Any]:
    """The event a Lambda function URL hands its function for this request (payload format 2.0)."""
    path, _, query = target.partition("?")
    merged: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        merged[key] = f"{merged[key]},{value}" if key in merged else value  # as function URLs join repeated headers
    try:
        text, encoded = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode("ascii"), True
    now = time.time()
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path or "/",
        "rawQueryString": query,
        "headers": merged,
        "requestContext": {
            "http": {
                "method": method,
                "path": path or "/",
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": merged.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "body": text if body else None,
        "isBase64Encoded": encoded,
    }


class WebhookReceiver(BackgroundServer):
    """The webhook on ``host:port``; ``deliver_to`` sets where bookings are stored (else every POST is 503)."""

    thread_name = "sandbox-webhook"

    def __init__(
        self,
        *,
        secrets: str = DEFAULT_WEBHOOK_SECRET,
        host: str = "127.0.0.1",
        port: int = 0,
        settings_from: Callable[[], Settings] | None = None,
    ) -> None:
        """``settings_from`` replaces ``deliver_to`` (``Settings.from_environment``: configured as in Lambda)."""
        self.secrets = secrets
        self._settings: Settings | None = None
        self._settings_from = settings_from or self.settings
        self._s3: Any = None
        self._server = ThreadingHTTPServer((host, port), self._handler_class())

    def use_aws(self, endpoint_url: str, *, access_key_id: str, secret_access_key: str, region: str) -> None:
        """Store ``s3://`` exports through this endpoint (the stack's AWS), as the function uses real S3."""
        import boto3
        from botocore.config import Config

        self._s3 = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=Config(connect_timeout=3, read_timeout=10, retries={"max_attempts": 3, "mode": "standard"}),
        )

    def deliver_to(self, exports_uri: str, *, timezone: str = "America/Los_Angeles") -> None:
        """Store deliveries under ``exports_uri`` + ``webhook/``, reading local times in ``timezone``."""
        from charter_pipeline.webhook import ENV_EXPORTS_URI, ENV_SECRETS, ENV_TIMEZONE, Settings

        settings = Settings.from_environment(
            {ENV_EXPORTS_URI: exports_uri, ENV_SECRETS: self.secrets, ENV_TIMEZONE: timezone}
        )
        client = self._s3
        self._settings = Settings(
            settings.exports_uri, settings.secrets, settings.timezone, s3_client=(lambda: client) if client else None
        )

    def settings(self) -> Settings:
        """What ``deliver_to`` set; ValueError (the handler answers 503) before that."""
        if self._settings is None:
            raise ValueError("the local webhook has no exports location yet")
        return self._settings

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                from charter_pipeline.webhook import respond

                length = int(self.headers.get("Content-Length") or 0)
                if length > _MAX_REQUEST_BYTES:
                    self._send(413, {"content-type": "application/json"}, b'{"error": "request too large"}')
                    self.close_connection = True
                    return
                body = self.rfile.read(length) if length else b""
                event = function_url_event(
                    self.command, self.path, list(self.headers.items()), body, source_ip=self.client_address[0]
                )
                answer = respond(event, receiver._settings_from)
                self._send(answer["statusCode"], answer["headers"], answer["body"].encode("utf-8"))

            def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_POST = do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the handler logs each delivery itself, without the guest's data

        return Handler


def main(argv: list[str] | None = None) -> None:
    """``python -m sandbox.webhook``: the handler configured from the environment, as in Lambda."""
    from sandbox.bootstrap import put_plugins_on_path

    put_plugins_on_path()
    from charter_pipeline.webhook import Settings

    parser = argparse.ArgumentParser(prog="python -m sandbox.webhook", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8084)
    args = parser.parse_args(argv)
    receiver = WebhookReceiver(host=args.host, port=args.port, settings_from=Settings.from_environment)
    print(f"booking webhook on {receiver.url}/ (Ctrl-C stops it)", flush=True)
    receiver.serve_forever()


if __name__ == "__main__":
    main()
