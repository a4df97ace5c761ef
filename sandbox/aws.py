"""AWS on loopback: a moto server, and a counting, fault-injecting reverse proxy in front of it.

The pipeline's ``aws_default`` connection points at the proxy (``AwsProxy``), which forwards every request to moto
byte for byte (SigV4 signs headers and body; S3's aws-chunked uploads pass as they came) and on the way:

- counts calls per AWS service and operation (``X-Amz-Target`` for DynamoDB, the method and URL for S3 and
  CloudFront, ``Action`` for query APIs), so a benchmark can count the outside calls of one poll;
- injects faults: an AWS error for the next N calls of an operation (CloudFront's
  ``TooManyInvalidationsInProgress``, a 500 or 503), or a hang, a dropped or reset connection or a lost answer
  (forwarded to moto, so the write lands, then the connection closed without the answer); or, with ``chaos``, a
  seeded share of every call of a service or operation meets one of the faults that service really answers
  (``AWS_FAULT_KINDS``).

Faults go through the same admin API as the other stand-ins (``POST /_sandbox/faults`` with ``service``,
``operation`` and optionally ``code``; no S3 bucket name can start with ``_``). ``GET /_sandbox/state`` holds the
counts. moto's own state is per process: two moto servers in one process share their AWS data.

Run alone: ``python -m sandbox.aws --port 5055`` (the proxy on 5055, moto on ``--moto-port``, default a free port).
"""

from __future__ import annotations

import argparse
import http.client
import logging
import re
import uuid
from collections import Counter
from dataclasses import dataclass
from html import escape
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from sandbox.faults import (
    Answer,
    Call,
    Fault,
    FaultMode,
    SandboxService,
    ServiceRequest,
    dump_json,
    serve_until_signalled,
)

DEFAULT_AWS_ACCESS_KEY_ID = "AKIASANDBOX7Q2EXAMPL"
DEFAULT_AWS_SECRET_ACCESS_KEY = "sandbox-aws-secret-7Q2/kq9VtXb3ZcW"
REGION = "us-east-1"

# RFC 9110 hop-by-hop headers are the proxy's own business; Expect is handled here (botocore does not sign it).
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade", "transfer-encoding", "expect"}
)

# AWS error codes whose HTTP status is fixed, so a fault given only a code answers as AWS would.
ERROR_STATUS = {
    "TooManyInvalidationsInProgress": 400,
    "ThrottlingException": 400,
    "Throttling": 400,
    "ProvisionedThroughputExceededException": 400,
    "RequestLimitExceeded": 400,
    "AccessDenied": 403,
    "AccessDeniedException": 400,
    "InternalError": 500,
    "InternalServerError": 500,
    "ServiceUnavailable": 503,
    "SlowDown": 503,
}
ERROR_MESSAGES = {
    "TooManyInvalidationsInProgress": "You have exceeded the maximum number of allowable InProgress invalidation "
    "batch requests, or invalidation objects.",
}


@dataclass(frozen=True)
class AwsFaultKind:
    """One way an AWS call fails: an error answer (``status`` and ``code``) or a connection ``mode``."""

    name: str
    mode: FaultMode = "status"
    status: int = 503
    code: str = ""

    def fault(self, service: str, operation: str, *, count: int | None, rate: float = 1.0) -> Fault:
        return Fault(
            service=service, operation=operation, mode=self.mode, status=self.status, code=self.code,
            count=count, rate=rate,
        )  # fmt: skip


# What each service answers when it cannot take a call (docs/RELIABILITY.md), besides the connection faults every
# service shares: a reset before the work, and "lost" (the work done, the answer never sent).
_CONNECTION_FAULTS = (AwsFaultKind("reset", mode="reset"), AwsFaultKind("lost", mode="lose_answer"))
AWS_FAULT_KINDS: dict[str, tuple[AwsFaultKind, ...]] = {
    "s3": (
        AwsFaultKind("500", status=500, code="InternalError"),
        AwsFaultKind("503 SlowDown", status=503, code="SlowDown"),
        *_CONNECTION_FAULTS,
    ),
    "dynamodb": (
        AwsFaultKind("500", status=500, code="InternalServerError"),
        AwsFaultKind("throughput exceeded", status=400, code="ProvisionedThroughputExceededException"),
        AwsFaultKind("throttled", status=400, code="ThrottlingException"),
        *_CONNECTION_FAULTS,
    ),
    "cloudfront": (
        AwsFaultKind("500", status=500, code="InternalError"),
        AwsFaultKind("throttled", status=400, code="Throttling"),
        AwsFaultKind("too many invalidations", status=400, code="TooManyInvalidationsInProgress"),
        *_CONNECTION_FAULTS,
    ),
}

_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/]+/([^/]+)/aws4_request")
_CLOUDFRONT = "/2020-05-31/"
# (method, path pattern after the API version) -> CloudFront operation.
CLOUDFRONT_OPERATIONS: tuple[tuple[str, re.Pattern[str], str], ...] = tuple(
    (method, re.compile(pattern), operation)
    for method, pattern, operation in (
        ("POST", r"^distribution/[^/]+/invalidation$", "CreateInvalidation"),
        ("GET", r"^distribution/[^/]+/invalidation$", "ListInvalidations"),
        ("GET", r"^distribution/[^/]+/invalidation/[^/]+$", "GetInvalidation"),
        ("GET", r"^distribution/[^/]+/config$", "GetDistributionConfig"),
        ("PUT", r"^distribution/[^/]+/config$", "UpdateDistribution"),
        ("GET", r"^distribution/[^/]+$", "GetDistribution"),
        ("DELETE", r"^distribution/[^/]+$", "DeleteDistribution"),
        ("GET", r"^distribution$", "ListDistributions"),
        ("POST", r"^distribution$", "CreateDistribution"),
        ("POST", r"^function$", "CreateFunction"),
        ("GET", r"^function$", "ListFunctions"),
        ("GET", r"^function/[^/]+/describe$", "DescribeFunction"),
        ("GET", r"^function/[^/]+$", "GetFunction"),
        ("PUT", r"^function/[^/]+$", "UpdateFunction"),
        ("POST", r"^function/[^/]+/publish$", "PublishFunction"),
        ("DELETE", r"^function/[^/]+$", "DeleteFunction"),
        ("POST", r"^origin-access-control$", "CreateOriginAccessControl"),
        ("GET", r"^origin-access-control$", "ListOriginAccessControls"),
        ("POST", r"^response-headers-policy$", "CreateResponseHeadersPolicy"),
        ("GET", r"^response-headers-policy$", "ListResponseHeadersPolicies"),
        ("POST", r"^cache-policy$", "CreateCachePolicy"),
        ("GET", r"^cache-policy$", "ListCachePolicies"),
        ("GET", r"^tagging$", "ListTagsForResource"),
    )
)
# S3 bucket sub-resources: (method, query key) -> operation; the rest is named Get/Put/DeleteBucket<Key>.
S3_BUCKET_OPERATIONS = {
    ("GET", "location"): "GetBucketLocation",
    ("GET", "versions"): "ListObjectVersions",
    ("GET", "uploads"): "ListMultipartUploads",
    ("POST", "delete"): "DeleteObjects",
}
S3_BUCKET_SUBRESOURCES = (
    "versioning", "policy", "tagging", "cors", "lifecycle", "website", "acl", "notification", "encryption",
    "ownershipControls", "publicAccessBlock", "logging", "replication", "accelerate", "requestPayment",
)  # fmt: skip
S3_OBJECT_OPERATIONS = {"GET": "GetObject", "HEAD": "HeadObject", "PUT": "PutObject", "DELETE": "DeleteObject"}
S3_MULTIPART_OPERATIONS = {
    "PUT": "UploadPart",
    "POST": "CompleteMultipartUpload",
    "DELETE": "AbortMultipartUpload",
    "GET": "ListParts",
}


def aws_service(headers: Any, query: dict[str, Any], path: str) -> str:
    """The AWS service a request is for: SigV4's credential scope names it; else the target header or URL."""
    scope = _CREDENTIAL_SCOPE.search(headers.get("Authorization") or "")
    if scope:
        return scope.group(1)
    credential = query.get("X-Amz-Credential")
    if isinstance(credential, str) and credential.count("/") >= 3:
        return credential.split("/")[3]
    target = headers.get("X-Amz-Target") or ""
    if target.startswith("DynamoDBStreams_"):
        return "dynamodbstreams"
    if target.startswith("DynamoDB_"):
        return "dynamodb"
    if target:
        return target.split(".", 1)[0].split("_", 1)[0].lower()
    return "cloudfront" if path.startswith(_CLOUDFRONT) else "s3"


def s3_operation(method: str, path: str, query: dict[str, Any], headers: Any) -> str:
    """The S3 API operation of a path-style (or ``<bucket>.localhost``) request."""
    host = (headers.get("Host") or "").split(":", 1)[0]
    if host.endswith(".localhost"):
        path = f"/{host.removesuffix('.localhost')}{path}"
    bucket, _, key = path.lstrip("/").partition("/")
    if not bucket:
        return "ListBuckets" if method == "GET" else f"{method} /"
    if key:
        if "uploadId" in query:
            return S3_MULTIPART_OPERATIONS.get(method, f"{method} multipart")
        if "uploads" in query and method == "POST":
            return "CreateMultipartUpload"
        for sub in ("tagging", "acl", "retention", "legal-hold", "attributes"):
            if sub in query:
                name = sub.title().replace("-", "")
                return {"GET": f"GetObject{name}", "PUT": f"PutObject{name}", "DELETE": f"DeleteObject{name}"}.get(
                    method, f"{method} object {sub}"
                )
        if method == "PUT" and headers.get("x-amz-copy-source"):
            return "CopyObject"
        return S3_OBJECT_OPERATIONS.get(method, f"{method} object")
    for (verb, sub), operation in S3_BUCKET_OPERATIONS.items():
        if method == verb and sub in query:
            return operation
    for sub in S3_BUCKET_SUBRESOURCES:
        if sub in query:
            name = sub[0].upper() + sub[1:]
            return {"GET": f"GetBucket{name}", "PUT": f"PutBucket{name}", "DELETE": f"DeleteBucket{name}"}.get(
                method, f"{method} bucket {sub}"
            )
    if method == "GET":
        return "ListObjectsV2" if query.get("list-type") == "2" else "ListObjects"
    return {"HEAD": "HeadBucket", "PUT": "CreateBucket", "DELETE": "DeleteBucket"}.get(method, f"{method} bucket")


def cloudfront_operation(method: str, path: str, query: dict[str, Any]) -> str:
    rest = path.removeprefix(_CLOUDFRONT).rstrip("/")
    for verb, pattern, operation in CLOUDFRONT_OPERATIONS:
        if verb == method and pattern.match(rest):
            if operation == "CreateDistribution" and "WithTags" in query:
                return "CreateDistributionWithTags"
            return operation
    return f"{method} {rest}"


def classify(request: ServiceRequest) -> tuple[str, str]:
    """``(service, operation)`` of one AWS API request, e.g. ``("dynamodb", "GetItem")``."""
    service = aws_service(request.headers, request.query, request.path)
    target = request.headers.get("X-Amz-Target")
    if target and "." in target:
        return service, target.rsplit(".", 1)[1]
    if service == "s3":
        return service, s3_operation(request.method, request.path, request.query, request.headers)
    if service == "cloudfront":
        return service, cloudfront_operation(request.method, request.path, request.query)
    action = request.query.get("Action")
    if not action and "x-www-form-urlencoded" in (request.headers.get("Content-Type") or ""):
        action = (parse_qs(request.body.decode("utf-8", "replace")).get("Action") or [""])[0]
    if isinstance(action, str) and action:
        return service, action
    return service, f"{request.method} {request.path}"


def aws_error(service: str, code: str, status: int, message: str = "", *, json_protocol: bool = False) -> Answer:
    """An error answer shaped as ``service`` answers errors, so botocore parses ``code`` out of it."""
    message = message or ERROR_MESSAGES.get(code, f"sandbox fault: {code}")
    request_id = str(uuid.uuid4())
    if json_protocol or service == "dynamodb":
        prefix = "com.amazonaws.dynamodb.v20120810#" if service == "dynamodb" else ""
        # One Content-Type, as DynamoDB sends it (Answer.json would add application/json before it).
        return Answer(
            status,
            dump_json({"__type": f"{prefix}{code}", "message": message}),
            [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-RequestId", request_id)],
        )
    if service == "s3":
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
            f"<RequestId>{request_id}</RequestId></Error>"
        )
    else:
        namespace = ' xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/"' if service == "cloudfront" else ""
        kind = "Sender" if status < 500 else "Receiver"
        xml = (
            f'<?xml version="1.0"?>\n<ErrorResponse{namespace}><Error><Type>{kind}</Type>'
            f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
    return Answer(status, xml.encode(), [("Content-Type", "text/xml"), ("x-amz-request-id", request_id)])


def _is_credential_parameter(name: str) -> bool:
    # SigV4 presigning uses X-Amz-Credential/-Signature/-Security-Token; SigV2 AWSAccessKeyId and Signature.
    return name.lower().startswith("x-amz-") or name.lower() in ("awsaccesskeyid", "signature", "security-token")


def _default_code(service: str, status: int) -> str:
    if status == 429:
        return "ThrottlingException"
    if status == 503:
        return "SlowDown" if service == "s3" else "ServiceUnavailable"
    if status >= 500:
        return "InternalServerError" if service == "dynamodb" else "InternalError"
    return "BadRequest"


class MotoServer:
    """moto in server mode, on loopback, in a daemon thread (port 0 picks a free port)."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._server: Any = None

    def start(self) -> Self:
        if self._server is None:
            from moto.server import ThreadedMotoServer

            # werkzeug logs every request at INFO to stderr unless told otherwise; the sandbox stays quiet.
            logging.getLogger("werkzeug").setLevel(logging.WARNING)
            self._server = ThreadedMotoServer(ip_address=self._host, port=self._port, verbose=False)
            self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("moto server is not running")
        return int(self._server.get_host_and_port()[1])

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    def reset(self) -> None:
        """Forget every AWS resource moto holds (in this process)."""
        connection = http.client.HTTPConnection(self._host, self.port, timeout=10)
        try:
            connection.request("POST", "/moto-api/reset")
            connection.getresponse().read()
        finally:
            connection.close()


class AwsProxy(SandboxService):
    """The counting, fault-injecting reverse proxy in front of moto; ``aws_default`` points here."""

    name = "aws"

    def __init__(self, upstream_url: str, *, host: str = "127.0.0.1", port: int = 0, timeout: float = 60) -> None:
        super().__init__(host=host, port=port)
        upstream = urlsplit(upstream_url)
        self._upstream = (upstream.hostname or "127.0.0.1", upstream.port or 80)
        self.upstream_url = upstream_url
        self._timeout = timeout

    # counts

    def calls(self, service: str | None = None, operation: str | None = None) -> list[dict[str, Any]]:
        """Every call seen (faulted ones included), oldest first, optionally of one service/operation."""
        return [
            entry
            for entry in self.requests.entries()
            if (service is None or entry["service"] == service)
            and (operation is None or entry["operation"] == operation)
        ]

    def call_counts(self) -> dict[str, dict[str, int]]:
        """``{"dynamodb": {"GetItem": 3, ...}, "s3": {...}}``."""
        counts: dict[str, Counter[str]] = {}
        for entry in self.requests.entries():
            counts.setdefault(entry["service"], Counter())[entry["operation"]] += 1
        return {service: dict(ops) for service, ops in sorted(counts.items())}

    def count(self, service: str, operation: str | None = None) -> int:
        """How many calls of ``service`` (and ``operation``) were seen since the last reset."""
        return len(self.calls(service, operation))

    def reset_counts(self) -> None:
        self.requests.clear()

    def stored(self) -> dict[str, Any]:
        return {"upstream": self.upstream_url, "counts": self.call_counts()}

    # faults

    def inject_error(
        self, service: str, operation: str, *, code: str = "", status: int | None = None, count: int = 1
    ) -> Fault:
        """The next ``count`` calls of ``service``/``operation`` answer the AWS error ``code`` (HTTP ``status``)."""
        status = status if status is not None else ERROR_STATUS.get(code, 503)
        return self.inject(service=service, operation=operation, mode="status", status=status, code=code, count=count)

    def chaos(
        self,
        rate: float,
        *,
        seed: int | None = None,
        service: str = "*",
        operation: str = "*",
        kinds: tuple[str, ...] = (),
    ) -> list[Fault]:
        """From now on, ``rate`` of the calls of ``service`` (every one of ``AWS_FAULT_KINDS`` by default; and
        ``operation``) fail, each of that service's kinds (or of ``kinds``, by name) taking an equal share;
        ``seed`` restarts the draws.

        ``chaos(0.3, service="dynamodb")`` makes 30% of DynamoDB calls answer 500, a throughput or throttling
        error, reset the connection, or lose the answer after the write landed. Armed until ``clear_faults``."""
        services = list(AWS_FAULT_KINDS) if service == "*" else [service]
        if seed is not None:
            self.faults.reseed(seed)
        armed: list[Fault] = []
        for name in services:
            known = AWS_FAULT_KINDS[name]
            chosen = [k for k in known if not kinds or k.name in kinds]
            unknown = set(kinds) - {k.name for k in known}
            if unknown or not chosen:
                raise ValueError(f"kinds: {sorted(unknown)} not among {name}'s {[k.name for k in known]}")
            share = rate / len(chosen)
            armed += [self.inject(k.fault(name, operation, count=None, rate=share)) for k in chosen]
        return armed

    def too_many_invalidations(self, count: int = 1) -> Fault:
        """The next ``count`` CreateInvalidation calls answer CloudFront's TooManyInvalidationsInProgress (400)."""
        return self.inject_error("cloudfront", "CreateInvalidation", code="TooManyInvalidationsInProgress", count=count)

    def fault_from_json(self, data: object) -> Fault:
        if isinstance(data, dict) and data.get("code") and "status" not in data:
            data = {**data, "status": ERROR_STATUS.get(str(data["code"]), 400)}
        return Fault.from_json(data)

    def fault_call(self, request: ServiceRequest) -> Call:
        service, operation = classify(request)
        return Call(request.method, request.path, service, operation)

    def fault_answer(self, fault: Fault, call: Call, request: ServiceRequest) -> Answer:
        code = fault.code or _default_code(call.service, fault.status)
        answer = aws_error(call.service, code, fault.status, json_protocol=bool(request.headers.get("X-Amz-Target")))
        if fault.status in (429, 503):
            answer.headers.append(("Retry-After", "1"))
        return answer

    def log_entry(self, request: ServiceRequest, call: Call) -> dict[str, Any]:
        # Presigned URLs carry the access key id and signature in the query: keep them out of the log.
        query = {k: v for k, v in request.query.items() if not _is_credential_parameter(k)}
        return {
            "service": call.service,
            "operation": call.operation,
            "method": request.method,
            "path": request.path,
            "query": query,
        }

    # forwarding

    def answer(self, request: ServiceRequest) -> Answer:
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP]
        if "chunked" in (request.headers.get("Transfer-Encoding") or "").lower():
            # The transport chunking was undone on the way in; what is inside (aws-chunked included) goes on as is.
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
            headers.append(("Content-Length", str(len(request.body))))
        connection = http.client.HTTPConnection(*self._upstream, timeout=self._timeout)
        try:
            connection.putrequest(request.method, request.raw_path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                connection.putheader(name, value)
            connection.endheaders(request.body or None)
            upstream = connection.getresponse()
            body = upstream.read()
            answer_headers = [(k, v) for k, v in upstream.getheaders() if k.lower() not in _HOP_BY_HOP]
            if upstream.chunked or (
                request.method != "HEAD" and not any(k.lower() == "content-length" for k, _ in answer_headers)
            ):
                answer_headers = [(k, v) for k, v in answer_headers if k.lower() != "content-length"]
                answer_headers.append(("Content-Length", str(len(body))))
            return Answer(upstream.status, body, answer_headers, upstream.reason)
        except (OSError, http.client.HTTPException):
            service, _ = classify(request)
            return aws_error(service, "ServiceUnavailable", 502, "sandbox proxy: moto is not answering")
        finally:
            connection.close()


def main(argv: list[str] | None = None) -> None:
    """``python -m sandbox.aws``: moto plus the proxy, until Ctrl-C."""
    parser = argparse.ArgumentParser(description="moto server behind the counting, fault-injecting AWS proxy")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5055, help="the proxy's port (what aws_default points at)")
    parser.add_argument("--moto-port", type=int, default=0, help="moto's own port (default: a free one)")
    args = parser.parse_args(argv)
    moto = MotoServer(host=args.host, port=args.moto_port).start()
    proxy = AwsProxy(moto.url, host=args.host, port=args.port).start()
    serve_until_signalled([proxy, moto], f"AWS sandbox: proxy {proxy.url} -> moto {moto.url}")


if __name__ == "__main__":
    main()
