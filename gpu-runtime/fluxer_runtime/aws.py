"""The AWS calls the runtime makes, behind two narrow classes (SQS queue, S3 store), built by one
client factory with one retry policy."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from .config import Config

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (BotoCoreError, ClientError)

# Errors that retrying cannot fix: the node's role, the stack's resources or the credentials are
# wrong. A job that meets one fails with it instead of cycling into the dead-letter queue.
PERMANENT_CODES = frozenset({
    "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "InvalidAccessKeyId",
    "InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken", "NoSuchBucket",
    "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "InvalidSecurity",
    "KMS.AccessDeniedException", "AllAccessDisabled", "AccountProblem",
})
CONDITION_CODES = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409"})


def error_code(exc: BaseException) -> str | None:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or "") or None
    return None


def is_permanent(exc: BaseException) -> bool:
    return error_code(exc) in PERMANENT_CODES


class Conflict(Exception):
    """A conditional write S3 refused (412 Precondition Failed, 409 ConditionalRequestConflict, or
    If-Match on an object that is gone): someone else wrote the object since we read it."""


@dataclass(frozen=True)
class Versioned:
    """An object as read: its JSON document, its ETag and the writer token we put in its metadata."""

    doc: dict[str, Any]
    etag: str
    writer: str | None


def client(service: str, cfg: Config, **overrides: Any) -> Any:
    # Standard retries ride out throttling and 5xx; the worker adds its own backoff on top by
    # releasing the message. Endpoint: FLUXER_ENDPOINT_URL, else boto3's AWS_ENDPOINT_URL handling.
    boto_config = BotoConfig(
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=5,
        read_timeout=overrides.pop("read_timeout", 30),
        max_pool_connections=overrides.pop("max_pool_connections", 10),
    )
    return boto3.session.Session().client(
        service, region_name=cfg.region, endpoint_url=cfg.endpoint_url, config=boto_config, **overrides
    )


@dataclass
class Message:
    message_id: str
    receipt_handle: str
    body: str
    receive_count: int
    sent_at: float | None = None  # SQS SentTimestamp, epoch seconds: the start of the queue wait


def _sent_at(millis: str | None) -> float | None:
    try:
        return int(millis) / 1000 if millis else None
    except ValueError:
        return None


class Queue:
    def __init__(self, sqs: Any, url: str) -> None:
        self._sqs = sqs
        self.url = url

    def receive(self, wait_seconds: int, visibility_seconds: int, max_messages: int = 1) -> list[Message]:
        response = self._sqs.receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=max_messages,
            WaitTimeSeconds=wait_seconds,
            VisibilityTimeout=visibility_seconds,
            MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
        )
        return [
            Message(
                message_id=m["MessageId"],
                receipt_handle=m["ReceiptHandle"],
                body=m.get("Body", ""),
                receive_count=int(m.get("Attributes", {}).get("ApproximateReceiveCount", "1")),
                sent_at=_sent_at(m.get("Attributes", {}).get("SentTimestamp")),
            )
            for m in response.get("Messages", [])
        ]

    def delete(self, message: Message) -> None:
        self._sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message.receipt_handle)

    def set_visibility(self, message: Message, seconds: int) -> None:
        self._sqs.change_message_visibility(
            QueueUrl=self.url, ReceiptHandle=message.receipt_handle, VisibilityTimeout=seconds
        )

    def extend(self, messages: list[Message], seconds: int) -> list[str]:
        """Push back the visibility of every held message; returns the ids SQS refused (deleted or
        expired receipts), which the caller stops extending."""
        failed: list[str] = []
        for start in range(0, len(messages), 10):
            batch = messages[start : start + 10]
            response = self._sqs.change_message_visibility_batch(
                QueueUrl=self.url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m.receipt_handle, "VisibilityTimeout": seconds}
                    for i, m in enumerate(batch)
                ],
            )
            failed += [batch[int(f["Id"])].message_id for f in response.get("Failed", [])]
        return failed


class Store:
    def __init__(self, s3: Any) -> None:
        self._s3 = s3

    def get_json(self, bucket: str, key: str) -> dict[str, Any] | None:
        try:
            body = self._s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        try:
            doc = json.loads(body)
        except ValueError:
            return None  # a torn or foreign object is as good as none: the runtime rewrites it
        return doc if isinstance(doc, dict) else None

    def get_bytes(self, bucket: str, key: str) -> bytes | None:
        """An object's bytes as stored (a manifest: its sha256 is the node's marker); None when absent."""
        try:
            return bytes(self._s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        except ClientError as exc:
            if error_code(exc) in ("NoSuchKey", "404"):
                return None
            raise

    def get_range(self, bucket: str, key: str, start: int, end: int) -> tuple[Any, int | None]:
        """Bytes start..end (inclusive) of an object, as a stream, and the object's whole size (from
        Content-Range; None when the server ignored the range). end < start: the whole object and its
        Content-Length (an empty file cannot be asked for a range)."""
        if end < start:
            response = self._s3.get_object(Bucket=bucket, Key=key)
            return response["Body"], int(response.get("ContentLength", 0))
        response = self._s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{end}")
        content_range = str(response.get("ContentRange") or "")
        total = content_range.rpartition("/")[2]
        return response["Body"], int(total) if total.isdigit() else None

    def read(self, bucket: str, key: str) -> Versioned | None:
        """The object with its ETag; None when absent. A torn or foreign body reads as an empty
        document with its real ETag, so a conditional write can still replace it."""
        try:
            response = self._s3.get_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) in ("NoSuchKey", "404"):
                return None
            raise
        body = response["Body"].read()
        try:
            doc = json.loads(body)
        except ValueError:
            doc = {}
        writer = (response.get("Metadata") or {}).get("fluxer-writer")
        return Versioned(doc if isinstance(doc, dict) else {}, response["ETag"], writer)

    def put_json_if(self, bucket: str, key: str, doc: dict[str, Any], etag: str | None, writer: str) -> str:
        """Write only over the version `etag` names (only where nothing exists when None). Returns
        the new ETag; raises Conflict when the condition fails."""
        condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
        try:
            response = self._s3.put_object(
                Bucket=bucket, Key=key, Body=json.dumps(doc).encode(), ContentType="application/json",
                CacheControl="no-cache", Metadata={"fluxer-writer": writer}, **condition,
            )
        except ClientError as exc:
            # If-Match on a deleted object answers 404 NoSuchKey: as much a lost race as a 412
            if error_code(exc) in CONDITION_CODES or (etag and error_code(exc) in ("NoSuchKey", "404")):
                raise Conflict(f"{key}: {error_code(exc)}") from None
            raise
        return str(response["ETag"])

    def read_text(self, bucket: str, key: str) -> tuple[str, str] | None:
        """A text object and its ETag; None when absent."""
        try:
            response = self._s3.get_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) in ("NoSuchKey", "404"):
                return None
            raise
        return response["Body"].read().decode("utf-8", errors="replace"), str(response["ETag"])

    def put_text_if(self, bucket: str, key: str, text: str, etag: str | None,
                    content_type: str = "application/x-ndjson") -> str:
        """Write over the version `etag` names (only where nothing exists when None); Conflict else."""
        condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
        try:
            response = self._s3.put_object(Bucket=bucket, Key=key, Body=text.encode(),
                                           ContentType=content_type, CacheControl="no-cache", **condition)
        except ClientError as exc:
            if error_code(exc) in CONDITION_CODES or (etag and error_code(exc) in ("NoSuchKey", "404")):
                raise Conflict(f"{key}: {error_code(exc)}") from None
            raise
        return str(response["ETag"])

    def put_png_new(self, bucket: str, key: str, data: bytes) -> bool:
        """Write an image only where none exists. False when one does (another attempt wrote it)."""
        try:
            self._s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType="image/png", IfNoneMatch="*")
        except ClientError as exc:
            if error_code(exc) in CONDITION_CODES:
                return False
            raise
        return True

    def put_json(self, bucket: str, key: str, doc: dict[str, Any]) -> None:
        self._s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=json.dumps(doc).encode(),
            ContentType="application/json",
            CacheControl="no-cache",
        )

    def exists(self, bucket: str, key: str) -> bool:
        try:
            self._s3.head_object(Bucket=bucket, Key=key)
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return False
            raise

    def keys(self, bucket: str, prefix: str) -> list[str]:
        keys: list[str] = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys += [item["Key"] for item in page.get("Contents", [])]
        return keys

