"""Per-job logs in S3: the runtime's lines that carry a job's id, written to
`<prefix>jobs/<id>/log.jsonl` beside the job's status.json when an attempt ends.

S3 cannot append, so each write is the whole object: the existing object is read first and this
attempt's lines are appended to it, so a job retried on another node keeps every attempt's lines,
oldest first. The write is conditional on the version read (If-Match / If-None-Match), so two
attempts ending at once cannot erase each other's lines; a lost race reads again. Bounded: the last
MAX_LINES lines of the job, all attempts together."""

from __future__ import annotations

import collections
import threading
from typing import Any

from .aws import TRANSIENT_ERRORS, Conflict, Store
from .contract import Job
from .logs import log

MAX_LINES = 2000
MAX_OPEN = 16  # jobs collected at once; a job that never ran (settled at receive) ages out


class JobLogs:
    """Collects the log lines of the jobs opened on this node (a sink on the JSON log)."""

    def __init__(self, max_lines: int = MAX_LINES) -> None:
        self.max_lines = max_lines
        self._lock = threading.Lock()
        self._open: collections.OrderedDict[str, collections.deque[str]] = collections.OrderedDict()

    def open(self, job_id: str) -> None:
        with self._lock:
            if job_id not in self._open:
                self._open[job_id] = collections.deque(maxlen=self.max_lines)
            while len(self._open) > MAX_OPEN:
                self._open.popitem(last=False)

    def discard(self, job_id: str) -> None:
        with self._lock:
            self._open.pop(job_id, None)

    def sink(self, line: dict[str, Any], text: str) -> None:
        job_id = line.get("job_id")
        if not isinstance(job_id, str):
            return
        with self._lock:
            lines = self._open.get(job_id)
            if lines is not None:
                lines.append(text)

    def take(self, job_id: str) -> list[str]:
        with self._lock:
            lines = self._open.pop(job_id, None)
        return list(lines or ())

    def write(self, store: Store, job: Job, lines: list[str]) -> bool:
        """On the I/O lane: append `lines` to the job's log.jsonl. False when it was not written
        (S3 failing: the job's outcome does not depend on its log)."""
        if not lines:
            return True
        key = job.key("log.jsonl")
        for _ in range(3):
            try:
                current = store.read_text(job.bucket, key)
                before = current[0].splitlines() if current else []
                body = "\n".join([*before, *lines][-self.max_lines:]) + "\n"
                store.put_text_if(job.bucket, key, body, current[1] if current else None)
                return True
            except Conflict:
                continue  # another attempt wrote it meanwhile: read its lines and append again
            except TRANSIENT_ERRORS as exc:
                # no job_id field: this line must not land in a log being written
                log.warning("job log not written", job=job.id, error=str(exc))
                return False
        log.warning("job log not written: kept losing the race to other writers", job=job.id)
        return False
