"""Held messages, the heartbeat that keeps them invisible, and jobs that end without running:
rejected, settled, fenced, retried, failed for good.

A part of Worker (worker.py); it uses the attributes Worker.__init__ sets."""

from __future__ import annotations

from typing import Any

from .aws import TRANSIENT_ERRORS, Message, is_permanent
from .contract import Job, Rejection
from .fence import Fenced, Lease, write_status
from .logs import log
from .status import TERMINAL_STATES, terminal_doc

RETRY_BASE_SECONDS = 2
RETRY_MAX_SECONDS = 900


def retry_delay(attempt: int) -> int:
    """Visibility for a message released after a transient error: 2, 4, 8 ... up to 15 minutes."""
    return int(min(RETRY_BASE_SECONDS * 2 ** max(attempt - 1, 0), RETRY_MAX_SECONDS))


class Messages:
    # ----- held messages ----------------------------------------------------------------------

    def _hold(self, message: Message) -> None:
        with self._lock:
            self._held[message.message_id] = message

    def _unhold(self, message: Message) -> None:
        with self._lock:
            self._held.pop(message.message_id, None)

    def _count(self, outcome: str) -> None:
        """A job this node ended (or handed back): the node record's `jobs` by outcome."""
        with self._lock:
            self.counters.count(outcome)

    def _release(self, message: Message, seconds: int, why: str, job_id: str | None = None) -> None:
        try:
            self.queue.set_visibility(message, seconds)
            log.info("message released", job_id=job_id, visibleInSeconds=seconds, reason=why)
        except TRANSIENT_ERRORS as exc:
            # It comes back by itself when its visibility timeout runs out.
            log.warning("message not released", job_id=job_id, error=str(exc))
        self._unhold(message)

    def _delete(self, message: Message, job_id: str | None) -> None:
        try:
            self.queue.delete(message)
        except TRANSIENT_ERRORS as exc:
            # Redelivered later, it meets its final status and is acknowledged then.
            log.warning("message not deleted", job_id=job_id, error=str(exc))
        self._unhold(message)

    def _extend_held(self) -> None:
        with self._lock:
            held = list(self._held.values())
        if not held:
            return
        try:
            refused = self.queue.extend(held, self.cfg.visibility_seconds)
        except TRANSIENT_ERRORS as exc:
            log.warning("visibility heartbeat failed", error=str(exc), messages=len(held))
            return
        for message in held:
            if message.message_id in refused:
                self._unhold(message)  # deleted meanwhile, or its receipt expired: nothing to extend

    def _images_in_store(self, job: Job) -> frozenset[int]:
        found: set[int] = set()
        for key in self.store.keys(job.bucket, job.key("image-")):
            name = key.rsplit("/", 1)[-1]
            index = name.removeprefix("image-").removesuffix(".png")
            if index.isdigit() and int(index) < job.count:
                found.add(int(index))
        return frozenset(found)

    def _reject(self, message: Message, rejection: Rejection, attempt: int) -> None:
        self._record_error(rejection.error_type, rejection.message, rejection.job_id)
        # the reason goes under the node's own prefix, whatever location the message names
        bucket, prefix = self.cfg.bucket, self.cfg.prefix
        log.warning("job rejected", job_id=rejection.job_id, type=rejection.error_type,
                    reason=rejection.message)
        if rejection.job_id is None or bucket is None:
            self._delete(message, None)  # nothing names the job: there is nowhere to say why
            self._count("rejected")
            return
        error = {"type": rejection.error_type, "message": rejection.message}
        doc = terminal_doc(rejection.job_id, "rejected", self.node, attempt, error)
        key = f"{prefix or ''}jobs/{rejection.job_id}/status.json"
        try:
            current = self.store.read(bucket, key)
            if current is not None and current.doc.get("state") in TERMINAL_STATES:
                self._delete(message, rejection.job_id)  # already ended: never overwrite an outcome
                return
            write_status(self.store, Lease.taken(bucket, key, current), doc)
        except Fenced as fenced:
            self._fenced(rejection.job_id, message, fenced)
            return
        except TRANSIENT_ERRORS as exc:
            self._retry_later(rejection.job_id, message, attempt, exc)
            return
        self._delete(message, rejection.job_id)
        self._count("rejected")

    def _settle(
        self, job: Job, message: Message, state: str, error: dict[str, str] | None, attempt: int,
        current: Any,
    ) -> None:
        """A job that ends before it starts: final status (fenced like any other), then the message
        goes."""
        write_status(self.store, Lease.taken(job.bucket, job.key("status.json"), current),
                     terminal_doc(job.id, state, self.node, attempt, error, job.model))
        log.info("job settled before start", job_id=job.id, state=state, error=error)
        self._delete(message, job.id)
        self._count(state)

    def _fenced(self, job_id: str | None, message: Message, fenced: Fenced) -> None:
        # Another attempt owns the job now. Releasing the message would cause yet another
        # delivery, deleting it could end the owner's run: leave it to the owner.
        log.warning("attempt fenced", job_id=job_id, reason=str(fenced))
        self._unhold(message)

    def _retry_later(
        self, job_id: str | None, message: Message, attempt: int, exc: BaseException | dict[str, str],
        job: Job | None = None,
    ) -> None:
        if isinstance(exc, BaseException) and is_permanent(exc):
            self._fail_permanently(job_id, message, attempt, exc, job)
            return
        delay = retry_delay(attempt)
        if isinstance(exc, dict):
            error_type, text = exc["type"], exc["message"]
        else:
            error_type, text = type(exc).__name__, str(exc)
        self._record_error(error_type, text, job_id)
        log.warning("transient error, job retried later", job_id=job_id, type=error_type, error=text,
                    retryInSeconds=delay, attempt=attempt)
        self._release(message, delay, "transient error", job_id)
        self._count("requeued")

    def _fail_permanently(
        self, job_id: str | None, message: Message, attempt: int, exc: BaseException, job: Job | None
    ) -> None:
        """An error no retry can fix (permissions, a missing bucket): the job fails with it, once,
        instead of cycling through every receive into the dead-letter queue."""
        error = {"type": type(exc).__name__, "message": f"not retried, permanent: {exc}"[:2000]}
        self._record_error(error["type"], error["message"], job_id)
        log.error("permanent error, job failed", job_id=job_id, error=error["message"], attempt=attempt)
        if job_id is not None and self.cfg.bucket:
            key = f"{self.cfg.prefix}jobs/{job_id}/status.json"
            doc = terminal_doc(job_id, "failed", self.node, attempt, error, job.model if job else None)
            try:
                current = self.store.read(self.cfg.bucket, key)
                write_status(self.store, Lease.taken(self.cfg.bucket, key, current), doc)
            except (Fenced, *TRANSIENT_ERRORS) as write_error:
                log.warning("failed status not written", job_id=job_id, error=str(write_error))
        self._delete(message, job_id)
        self._count("failed")
