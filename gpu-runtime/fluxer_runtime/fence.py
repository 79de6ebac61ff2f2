"""Fencing in S3: which attempt owns a job.

SQS gives no reliable "lease lost" signal: a worker paused past its visibility timeout learns
nothing, and another node receives the message meanwhile. So ownership is decided where the
outputs go. An attempt remembers the ETag of the status.json it read when it took the job and
writes its first status with If-Match on it (If-None-Match: * when there was none); every later
write is conditional on the ETag of its own previous write. A write that S3 refuses (412, or 409
for a concurrent conditional write) means another attempt wrote in between: this attempt is
fenced, stops, and writes nothing more. Images are written with If-None-Match: *, so no image is
ever overwritten.

One subtlety: a write whose response was lost (a dropped connection, then the SDK's retry) lands
but leaves us holding the old ETag. Every write carries a writer token in its metadata; a refused
write re-reads the object, and when the token there is ours the write was ours, not a rival's.

`seq` in each document is the previous document's seq + 1, so readers order a job's documents
without comparing clocks (schema/status.v1.schema.json).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from .aws import Conflict, Store, Versioned


class Fenced(Exception):
    """Another attempt owns the job: stop, write nothing more, leave its message alone."""


@dataclass
class Lease:
    bucket: str
    key: str
    etag: str | None  # of the last version this attempt read or wrote; None: there was none
    seq: int
    writer: str = field(default_factory=lambda: uuid.uuid4().hex)

    @classmethod
    def taken(cls, bucket: str, key: str, current: Versioned | None) -> Lease:
        seq = current.doc.get("seq", 0) if current else 0
        return cls(bucket, key, current.etag if current else None, seq if isinstance(seq, int) else 0)


def write_status(store: Store, lease: Lease, doc: dict[str, Any]) -> None:
    """Write `doc` as the job's next status, or raise Fenced. Transient errors propagate."""
    for _ in range(2):
        body = {**doc, "seq": lease.seq + 1}
        try:
            lease.etag = store.put_json_if(lease.bucket, lease.key, body, lease.etag, lease.writer)
            lease.seq += 1
            return
        except Conflict as conflict:
            current = store.read(lease.bucket, lease.key)
            if current is None or current.writer != lease.writer:
                raise Fenced(f"another attempt wrote {lease.key} ({conflict})") from None
            seq = current.doc.get("seq", lease.seq)
            lease.etag, lease.seq = current.etag, seq if isinstance(seq, int) else lease.seq
            if seq == body["seq"]:
                return  # this very write landed, its answer was lost: writing it again would duplicate it
            # an earlier write of ours is there (409: ours raced nothing but S3's lock): write on top
    raise Fenced(f"{lease.key}: conditional write refused twice")
