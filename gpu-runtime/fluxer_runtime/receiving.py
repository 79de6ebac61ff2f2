"""Receiving: the long poll that runs while the GPU works, and every check a job passes before
it may start (schema, model, output location, duplicates, cancel, deadline).

A part of Worker (worker.py); it uses the attributes Worker.__init__ sets."""

from __future__ import annotations

import time
from datetime import datetime, timezone

from .aws import TRANSIENT_ERRORS, Message, is_permanent
from .contract import Job, Rejection, parse_job
from .fence import Fenced
from .logs import log
from .status import TERMINAL_STATES, Prepared


class Receiving:
    # ----- receiving and checking -------------------------------------------------------------

    def _receive_loop(self) -> None:
        failures = 0
        while True:
            with self._cond:
                while (self._slot is not None or self._draining) and not self._stopping:
                    self._cond.wait(0.5)
                if self._stopping:
                    return
            try:
                messages = self.queue.receive(self.cfg.wait_seconds, self.cfg.visibility_seconds)
                failures = 0
                self._last_receive = (time.monotonic(), not messages)  # the idle rule's confirmation
            except TRANSIENT_ERRORS as exc:
                if is_permanent(exc):
                    self._record_error(type(exc).__name__, str(exc))
                    self._fail(f"cannot receive from the queue: {exc}")
                    return
                failures += 1
                self._record_error(type(exc).__name__, str(exc))
                log.warning("receive failed", error=str(exc), failures=failures)
                self._closed.wait(min(2**failures, 30))
                continue
            for message in messages:
                self._hold(message)
                if self._draining:
                    self._release(message, 0, "received while draining")
                    continue
                prepared = self._prepare(message)
                if prepared is None:
                    continue
                with self._cond:
                    if not self._draining:
                        self._slot = prepared
                        self._cond.notify_all()
                        continue
                self._release(message, 0, "received while draining", prepared.job.id)

    def _prepare(self, message: Message) -> Prepared | None:
        """Every check that needs no GPU, done while the GPU runs the previous job. None when the
        message was settled here (rejected, duplicate, cancelled, past its deadline, retried)."""
        attempt = message.receive_count
        try:
            job = parse_job(message.body)
        except Rejection as rejection:
            self._reject(message, rejection, attempt)
            return None
        self.job_logs.open(job.id)  # from here on the job's lines go to its log.jsonl too
        prepared = self._check(message, job, attempt)
        if prepared is None:
            self.job_logs.discard(job.id)  # settled here without running: no attempt to log
        return prepared

    def _check(self, message: Message, job: Job, attempt: int) -> Prepared | None:
        log.info("job received", job_id=job.id, attempt=attempt)
        if job.model != self.cfg.model:
            self._reject(
                message,
                Rejection("ModelNotServed", f"this node serves {self.cfg.model!r}, not {job.model!r}",
                          job.id, job.bucket, job.prefix),
                attempt,
            )
            return None
        if (job.bucket, job.prefix) != (self.cfg.bucket, self.cfg.prefix):
            # A message never chooses where a node writes: the node's role is scoped to its own
            # bucket and prefix, and a foreign location would be written with the stack's rights.
            self._reject(
                message,
                Rejection("OutputLocationMismatch",
                          f"output s3://{job.bucket}/{job.prefix} is not this node's "
                          f"s3://{self.cfg.bucket}/{self.cfg.prefix}", job.id),
                attempt,
            )
            return None
        try:
            current = self.store.read(job.bucket, job.key("status.json"))
            previous = current.doc if current else None
            if previous and previous.get("state") in TERMINAL_STATES:
                log.info("duplicate delivery acknowledged", job_id=job.id, state=previous.get("state"),
                         attempt=attempt)
                self._delete(message, job.id)
                return None
            if self.store.exists(job.bucket, job.key("cancel")):
                self._settle(job, message, "cancelled", None, attempt, current)
                return None
            if job.deadline and datetime.now(timezone.utc) > job.deadline:
                error = {"type": "DeadlineExceeded", "message": f"deadline {job.deadline.isoformat()} passed "
                                                                "before the job could start"}
                self._settle(job, message, "failed", error, attempt, current)
                return None
            done: frozenset[int] = frozenset()
            if attempt > 1 or (previous and previous.get("state") in ("running", "requeued")):
                done = self._images_in_store(job)
            return Prepared(message, job, attempt, done, current)
        except Fenced as fenced:
            self._fenced(job.id, message, fenced)
            return None
        except TRANSIENT_ERRORS as exc:
            self._retry_later(job.id, message, attempt, exc, job)
            return None
