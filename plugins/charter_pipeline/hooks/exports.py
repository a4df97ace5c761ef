"""ExportsHook: Boatsetter export files and quarantine records, on S3 or in a local folder.

Locations are ``s3://bucket/prefix/`` or ``file:///absolute/folder/`` (CONTRACT.md sections 1 and 3).
Which files count as exports: every ``*.csv`` and ``*.json`` (case-insensitive) anywhere under the location,
so that dated sub-folders (``incoming/2026/05/``) work too, except

- anything under the quarantine location when it is nested inside the exports location (its records are JSON);
- names starting with ``.`` (partial uploads, editor and macOS side files).

This hook only reads exports; it never modifies or deletes one. It writes only quarantine records.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from airflow.sdk import BaseHook

from charter_pipeline.hooks.policy import ServiceError, ServiceRejected

EXPORT_SUFFIXES = (".csv", ".json")


@dataclass(frozen=True)
class Location:
    """A parsed exports or quarantine location: ``scheme`` "s3" (bucket + prefix) or "file" (folder)."""

    scheme: str
    bucket: str
    prefix: str  # S3 key prefix ending in "/" (or ""), or the absolute folder path ending in "/"

    @classmethod
    def parse(cls, uri: str) -> Location:
        """Parse ``s3://bucket/prefix/`` or ``file:///absolute/folder/``; the trailing slash is optional."""
        parts = urlsplit(uri.strip())
        if parts.scheme == "s3" and parts.netloc:
            prefix = parts.path.lstrip("/")
            return cls("s3", parts.netloc, prefix if not prefix or prefix.endswith("/") else prefix + "/")
        if parts.scheme == "file" and parts.netloc in ("", "localhost") and parts.path.startswith("/"):
            folder = unquote(parts.path)
            return cls("file", "", folder if folder.endswith("/") else folder + "/")
        raise ValueError(f"{uri!r} is not s3://bucket/prefix/ or file:///absolute/folder/")

    def uri_of(self, relative: str) -> str:
        """The URI of ``relative`` (a key or path below this location)."""
        if self.scheme == "s3":
            return f"s3://{self.bucket}/{self.prefix}{relative}"
        return "file://" + quote(self.prefix + relative)

    def contains(self, other: Location) -> bool:
        """Whether ``other`` lies inside this location (same bucket/folder tree)."""
        return (self.scheme, self.bucket) == (other.scheme, other.bucket) and other.prefix.startswith(self.prefix)


@dataclass(frozen=True)
class ExportFile:
    """One export file as listed.

    ``name`` is its path relative to the exports location (a plain file name unless it sits in a sub-folder);
    ``version`` is the S3 ETag, or ``f"{mtime_ns}-{size}"`` for a local file: a new version means new content.
    """

    uri: str
    name: str
    version: str
    last_modified: datetime  # aware, UTC
    size: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form for an XCom."""
        return {
            "uri": self.uri,
            "name": self.name,
            "version": self.version,
            "last_modified": self.last_modified.isoformat(),
            "size": self.size,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExportFile:
        """Inverse of ``to_dict``."""
        return cls(
            uri=data["uri"],
            name=data["name"],
            version=data["version"],
            last_modified=datetime.fromisoformat(data["last_modified"]).astimezone(UTC),
            size=int(data["size"]),
        )


def is_export_name(name: str) -> bool:
    """A ``*.csv`` or ``*.json`` file (any case) whose name does not start with a dot."""
    base = PurePosixPath(name).name
    return not base.startswith(".") and base.lower().endswith(EXPORT_SUFFIXES)


class ExportsHook(BaseHook):
    """List and read Boatsetter exports, and write quarantine records, on S3 or in a local folder.

    :param aws_conn_id: the AWS connection for ``s3://`` locations (unused for ``file://``); its client comes from
        ``AwsHook``, so S3's failures arrive as ``policy.ServiceError``.
    """

    conn_name_attr = "aws_conn_id"
    default_conn_name = "aws_default"
    conn_type = "aws"
    hook_name = "Boatsetter exports"

    def __init__(self, aws_conn_id: str | None = default_conn_name) -> None:
        super().__init__()
        self.aws_conn_id = aws_conn_id
        self._s3: Any = None

    def list_exports(self, uri: str, *, exclude_uri: str | None = None) -> list[ExportFile]:
        """Every export file under ``uri``, sorted by (last_modified, name).

        ``exclude_uri`` (the quarantine location) is skipped when it is nested inside ``uri``.
        Outside calls: on S3, one ListObjectsV2 per 1,000 objects under the prefix, so a poll of a quiet
        location costs one call; a folder costs none.
        """
        location = Location.parse(uri)
        excluded = Location.parse(exclude_uri) if exclude_uri else None
        if excluded is not None and not location.contains(excluded):
            excluded = None
        if excluded is not None and Path(excluded.prefix) == Path(location.prefix):
            raise ValueError(f"the quarantine location {exclude_uri} must not be the exports location itself")
        files = self._list_s3(location, excluded) if location.scheme == "s3" else self._list_folder(location, excluded)
        return sorted(files, key=lambda f: (f.last_modified, f.name))

    def read(self, file: ExportFile) -> bytes:
        """The file's bytes (one GetObject on S3)."""
        location, key = self._split(file.uri)
        if location.scheme == "file":
            try:
                return Path(key).read_bytes()
            except FileNotFoundError:
                raise ServiceRejected(f"export {file.uri} is gone") from None
        answer = self._s3_client().get_object(Bucket=location.bucket, Key=key)
        body: bytes = answer["Body"].read()
        return body

    def write_quarantine(self, uri: str, name: str, record: dict[str, Any]) -> str:
        """Write ``record`` as one JSON object named ``name`` under ``uri``; returns the record's URI.

        On S3: one PutObject with ContentType application/json. In a folder: written to a temporary file and
        renamed, so a reader never sees half a record; the folder is created if missing.
        """
        if not name or "/" in name or "\\" in name or name.startswith("."):
            raise ValueError(f"quarantine record name {name!r} must be a plain file name")
        location = Location.parse(uri)
        body = json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")
        if location.scheme == "s3":
            self._s3_client().put_object(
                Bucket=location.bucket, Key=location.prefix + name, Body=body, ContentType="application/json"
            )
        else:
            folder = Path(location.prefix)
            folder.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(prefix=".quarantine-", suffix=".tmp", dir=folder)
            try:
                with os.fdopen(handle, "wb") as out:
                    out.write(body)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temporary, folder / name)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        target = location.uri_of(name)
        self.log.info("Quarantined a row as %s", target)
        return target

    def recent_quarantine(self, uri: str, *, limit: int = 20) -> list[dict[str, Any]]:
        """The newest ``limit`` quarantine records under ``uri``, newest first, each with its ``uri``.

        Outside calls on S3: one ListObjectsV2 per 1,000 records, then one GetObject per record returned. A record
        that cannot be read or decoded comes back as its uri with a ``reason`` saying so.
        """
        location = Location.parse(uri)
        found: list[tuple[datetime, str]] = []
        if location.scheme == "s3":
            paginator = self._s3_client().get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=location.bucket, Prefix=location.prefix):
                for entry in page.get("Contents", []):
                    if str(entry["Key"]).endswith(".json"):
                        found.append((entry["LastModified"], f"s3://{location.bucket}/{entry['Key']}"))
        else:
            folder = Path(location.prefix)
            for path in folder.glob("*.json") if folder.is_dir() else []:
                found.append((datetime.fromtimestamp(path.stat().st_mtime, tz=UTC), location.uri_of(path.name)))
        records = []
        for _, record_uri in sorted(found, reverse=True)[:limit]:
            try:
                record = json.loads(self.read(ExportFile(record_uri, "", "", datetime.now(UTC), 0)))
            except (ServiceError, ValueError) as exc:
                record = {"reason": f"quarantine record unreadable: {type(exc).__name__}"}
            records.append({**(record if isinstance(record, dict) else {}), "uri": record_uri})
        return records

    def _list_s3(self, location: Location, excluded: Location | None) -> list[ExportFile]:
        files = []
        paginator = self._s3_client().get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=location.bucket, Prefix=location.prefix):
            for entry in page.get("Contents", []):
                key: str = entry["Key"]
                if key.endswith("/") or not is_export_name(key):
                    continue
                if excluded is not None and key.startswith(excluded.prefix):
                    continue
                files.append(
                    ExportFile(
                        uri=f"s3://{location.bucket}/{key}",
                        name=key[len(location.prefix) :],
                        version=str(entry["ETag"]).strip('"'),
                        last_modified=entry["LastModified"].astimezone(UTC),
                        size=int(entry["Size"]),
                    )
                )
        return files

    def _list_folder(self, location: Location, excluded: Location | None) -> list[ExportFile]:
        root = Path(location.prefix)
        skipped = Path(excluded.prefix) if excluded is not None else None
        if not root.is_dir():
            raise ServiceRejected(f"exports folder {location.prefix} does not exist")
        files = []
        for folder, subfolders, names in os.walk(root):
            here = Path(folder)
            subfolders[:] = sorted(
                d for d in subfolders if not d.startswith(".") and not (skipped is not None and here / d == skipped)
            )
            for file_name in names:
                path = here / file_name
                relative = path.relative_to(root).as_posix()
                if not is_export_name(relative) or not path.is_file():
                    continue
                stat = path.stat()
                files.append(
                    ExportFile(
                        uri=location.uri_of(relative),
                        name=relative,
                        version=f"{stat.st_mtime_ns}-{stat.st_size}",
                        last_modified=datetime.fromtimestamp(stat.st_mtime_ns / 1e9, tz=UTC),
                        size=stat.st_size,
                    )
                )
        return files

    def _split(self, uri: str) -> tuple[Location, str]:
        """A file URI as (location, key or absolute path)."""
        parts = urlsplit(uri)
        if parts.scheme == "s3":
            return Location("s3", parts.netloc, ""), parts.path.lstrip("/")
        if parts.scheme == "file":
            return Location("file", "", ""), unquote(parts.path)
        raise ValueError(f"{uri!r} is not an s3:// or file:// URI")

    def _s3_client(self) -> Any:
        if self._s3 is None:
            from charter_pipeline.hooks.aws import AwsHook  # boto3 and the provider: only when S3 is used

            self._s3 = AwsHook(aws_conn_id=self.aws_conn_id, client_type="s3").get_conn()
        return self._s3
