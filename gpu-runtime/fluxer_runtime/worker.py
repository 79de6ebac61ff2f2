"""The worker: SQS messages in, images and status documents out, one job at a time on the GPU.

Threads and what each owns:
  main (GPU)  takes the prefetched job and runs the pipeline; never waits on the network
  receiver    long-polls SQS while the GPU works, checks the job (schema, duplicates, cancel,
              deadline) and parks it in a one-job slot: the prefetched message
  io lane     writes status.json, encodes and uploads PNGs, deletes or releases messages, in
              order, so a job's final status always follows its last image
  lease       extends the visibility of every held message (the running one, the prefetched one,
              one whose uploads are still going), and nothing else
  ticker      polls the running job's cancel marker, writes the node record
  watcher     IMDSv2 spot notices (imds.NoticeWatcher)
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import __version__
from .aws import TRANSIENT_ERRORS, Message, Queue, Store, is_permanent
from .config import Config
from .contract import Job, Rejection, parse_job
from .fence import Fenced, Lease, write_status
from .imds import Notice
from .iolane import IoLane
from .logs import log, utc_now
from .pipelines import Engine, is_out_of_memory
from .status import TERMINAL_STATES, JobRun, Node, Prepared, png_bytes, terminal_doc

PROGRESS_INTERVAL = 0.5  # status.json progress writes: at most twice a second
CANCEL_POLL_SECONDS = 0.5
RETRY_BASE_SECONDS = 2
RETRY_MAX_SECONDS = 900


def retry_delay(attempt: int) -> int:
    """Visibility for a message released after a transient error: 2, 4, 8 ... up to 15 minutes."""
    return int(min(RETRY_BASE_SECONDS * 2 ** max(attempt - 1, 0), RETRY_MAX_SECONDS))


class Worker:
    def __init__(
        self,
        cfg: Config,
        engine: Engine,
        queue: Queue,
        store: Store,
        node: Node,
    ) -> None:
        if not cfg.model:
            raise ValueError("the worker needs FLUXER_MODEL")
        self.cfg = cfg
        self.engine = engine
        self.queue = queue
        self.store = store
        self.node = node
        self.started_at = utc_now()
        self.health_url: str | None = None

        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._state = "STARTING"
        self._state_reason: str | None = None
        self._failed = False
        self._stopped = False
        self._draining = False
        self._stopping = False  # leave serve() once drained (SIGTERM, spot instance-action)
        self._spot_notice = False
        self._deadline: float | None = None  # monotonic time by which the running job must be done
        self._slot: Prepared | None = None
        self._current: JobRun | None = None
        self._held: dict[str, Message] = {}

        self.jobs_done = 0
        self.images_done = 0
        self.busy_seconds = 0.0
        self.last_error: dict[str, Any] | None = None
        self._step_seconds: float | None = None  # moving average, for "does the job fit?" on notice
        self._upload_seconds = 1.0
        self._node_record_due = True

        self._io = IoLane()
        self._threads: list[threading.Thread] = []
        self._closed = threading.Event()

    # ----- state and health ------------------------------------------------------------------

    def _refresh_state(self, reason: str | None = None) -> None:
        with self._lock:
            if self._failed:
                state = "FAILED"
            elif self._stopped:
                state = "STOPPED"
            elif self._state in ("STARTING", "LOADING"):
                state = self._state
            elif self._draining:
                state = "DRAINING"
            elif self._current is not None:
                state = "BUSY"
            else:
                state = "READY"
            if reason is not None:
                self._state_reason = reason
            changed = state != self._state
            if changed:
                previous, self._state = self._state, state
                if state not in ("READY", "BUSY") or previous not in ("READY", "BUSY"):
                    self._node_record_due = True
        if changed:
            if {state, previous} != {"READY", "BUSY"}:  # per-job flips would flood the journal
                log.info("state", state=state, previous=previous, reason=self._state_reason)
            self._write_state_file()

    def _set_phase(self, state: str, reason: str | None = None) -> None:
        with self._lock:
            self._state = state
            self._state_reason = reason
        log.info("state", state=state, reason=reason)
        self._write_state_file()

    @property
    def state(self) -> str:
        return self._state

    def health(self) -> dict[str, Any]:
        with self._lock:
            current = self._current
            return {
                "state": self._state,
                "model": self.cfg.model,
                "device": {"name": self.engine.device.name, "memoryBytes": self.engine.device.memory_bytes},
                "currentJob": current.job.id if current else None,
                "jobsDone": self.jobs_done,
                "imagesDone": self.images_done,
                "lastError": self.last_error,
                "version": __version__,
                "instanceId": self.node.instance_id,
                "startedAt": self.started_at,
                "stateReason": self._state_reason,
                "memoryPolicy": self.engine.policy,
                "busySeconds": round(self.busy_seconds, 3),
            }

    def _write_state_file(self) -> None:
        if not self.cfg.state_file:
            return
        doc = self.health()
        doc["healthUrl"] = self.health_url
        doc["healthPort"] = int(self.health_url.rsplit(":", 1)[1]) if self.health_url else None
        doc["pid"] = os.getpid()
        path = Path(self.cfg.state_file)
        tmp = path.with_name(f".{path.name}.{threading.get_ident()}.tmp")
        try:
            tmp.write_text(json.dumps(doc))
            tmp.replace(path)  # readers never see half a document
        except OSError as exc:
            log.warning("cannot write state file", path=str(path), error=str(exc))

    def _record_error(self, error_type: str, message: str, job_id: str | None = None) -> None:
        with self._lock:
            self.last_error = {"type": error_type, "message": message, "jobId": job_id, "at": utc_now()}

    def node_record(self) -> dict[str, Any]:
        health = self.health()
        record = {
            "instanceId": self.node.instance_id,
            "instanceType": self.node.instance_type,
            "az": self.node.az,
            "bucket": self.cfg.bucket,
            "prefix": self.cfg.prefix,
            "stack": self.cfg.stack,
            "model": self.cfg.model,
            "state": health["state"],
            "version": __version__,
            "startedAt": self.started_at,
            "lastSeenAt": utc_now(),
            "jobsDone": health["jobsDone"],
            "imagesDone": health["imagesDone"],
            "busySeconds": health["busySeconds"],
            "currentJob": health["currentJob"],
            "memoryPolicy": health["memoryPolicy"],
            "device": health["device"],
        }
        # unknown fields are omitted, never null; currentJob stays: null there means idle
        return {k: v for k, v in record.items() if v is not None or k == "currentJob"}

    def _write_node_record(self) -> None:
        if not self.cfg.bucket:
            return
        try:
            self.store.put_json(
                self.cfg.bucket, f"{self.cfg.prefix}nodes/{self.node.instance_id}.json", self.node_record()
            )
        except TRANSIENT_ERRORS as exc:
            log.warning("node record not written", error=str(exc))

    # ----- control: drain, resume, stop, notices ----------------------------------------------

    def drain(self, reason: str, deadline: float | None = None, stop: bool = False) -> None:
        """Stop receiving and release the prefetched message now. The running job goes on unless
        `deadline` (monotonic) is too close for its remaining steps and uploads."""
        with self._cond:
            self._draining = True
            self._stopping = self._stopping or stop
            if deadline is not None:
                self._deadline = deadline if self._deadline is None else min(self._deadline, deadline)
            parked, self._slot = self._slot, None
            self._cond.notify_all()
        log.info("draining", reason=reason, stop=stop, deadlineInSeconds=None if deadline is None else
                 round(deadline - time.monotonic(), 1))
        if parked is not None:
            self._release(parked.message, 0, f"released unstarted: {reason}", parked.job.id)
        self._refresh_state(reason)

    def control_actions(self) -> dict[str, Callable[[], tuple[int, dict[str, Any]]]]:
        """What the health server's POST paths do (`fluxer-runtime drain|resume`)."""

        def drain() -> tuple[int, dict[str, Any]]:
            self.drain("drain requested")
            return 200, self.health()

        return {"drain": drain, "resume": self.resume}

    def resume(self) -> tuple[int, dict[str, Any]]:
        with self._cond:
            if self._stopping or self._spot_notice:
                return 409, {"error": "cannot resume: the runtime is stopping or has a spot notice",
                             "state": self._state}
            self._draining = False
            self._deadline = None
            self._cond.notify_all()
        self._refresh_state("resumed")
        log.info("resumed")
        return 200, self.health()

    def request_stop(self, reason: str) -> None:
        """SIGTERM: drain, give the running job FLUXER_DRAIN_SECONDS, then leave serve(). A second
        request requeues the running job at its next step."""
        grace = 0.0 if self._stopping else self.cfg.drain_seconds
        self.drain(reason, deadline=time.monotonic() + grace, stop=True)

    def on_notice(self, notice: Notice) -> None:
        if notice.kind == "rebalance":
            # Higher risk of interruption, no deadline yet: take no new work, finish what runs.
            self.drain("rebalance recommendation")
            return
        self._spot_notice = True
        seconds = 0.0
        if notice.time is not None:
            seconds = (notice.time - datetime.now(timezone.utc)).total_seconds()
        self.drain(f"spot {notice.action or 'interruption'} notice for {notice.time}",
                   deadline=time.monotonic() + seconds, stop=True)

    # ----- held messages ----------------------------------------------------------------------

    def _hold(self, message: Message) -> None:
        with self._lock:
            self._held[message.message_id] = message

    def _unhold(self, message: Message) -> None:
        with self._lock:
            self._held.pop(message.message_id, None)

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
            except TRANSIENT_ERRORS as exc:
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

    # ----- running a job (GPU thread) ---------------------------------------------------------

    def _take(self) -> Prepared | None:
        with self._cond:
            while self._slot is None and not self._stopping:
                self._cond.wait(0.5)
            if self._stopping:
                return None
            prepared, self._slot = self._slot, None
            self._cond.notify_all()
            return prepared

    def _run(self, prepared: Prepared) -> None:
        job = prepared.job
        run = JobRun(prepared, self.node)
        run.lease = Lease.taken(job.bucket, job.key("status.json"), prepared.current)
        missing = [i for i in range(job.count) if i not in prepared.done]
        run.image = (missing[0] if missing else job.count - 1) + 1
        # Take the job before the GPU works on it: the first write is conditional on the status
        # read at receive time, so of two deliveries of one message only one gets past here.
        try:
            write_status(self.store, run.lease, run.doc())
        except Fenced as fenced:
            self._fenced(job.id, prepared.message, fenced)
            return
        except TRANSIENT_ERRORS as exc:
            self._retry_later(job.id, prepared.message, prepared.attempt, exc, job)
            return
        started = time.monotonic()
        with self._lock:
            self._current = run
        self._refresh_state()
        log.info("job started", job_id=job.id, attempt=prepared.attempt, resumeFrom=run.image,
                 count=job.count, steps=job.steps, size=f"{job.width}x{job.height}")
        outcome, error = "succeeded", None
        try:
            for index in missing:
                with run.lock:
                    run.image, run.step = index + 1, 0
                if self._should_stop(run, job.steps):
                    break
                run.last_step_at = time.monotonic()
                t0 = run.last_step_at
                image = self.engine.generate(job, index, lambda step, r=run: self._on_step(r, step))
                run.pipeline_seconds += time.monotonic() - t0
                if image is None:
                    break
                log.info("image generated", job_id=job.id, index=index, attempt=prepared.attempt,
                         seconds=round(time.monotonic() - t0, 4))
                self._io.submit(lambda r=run, i=index, im=image: self._upload(r, i, im))
            if run.stop_reason == "cancelled":
                outcome = "cancelled"
            elif run.stop_reason == "interrupted":
                outcome = "requeued"
                error = {"type": "Interrupted",
                         "message": f"stopped before the node goes away ({self._state_reason}); "
                                    "released for another node"}
        except Exception as exc:
            if is_out_of_memory(exc):
                self.engine.free_memory()
                policy = self.engine.step_up_policy()
                outcome = "retry"
                error = {"type": "OutOfMemory",
                         "message": f"{exc}; memory policy now {policy or self.engine.policy}"}
                log.warning("out of memory", job_id=job.id, policy=self.engine.policy)
            else:
                outcome = "failed"
                error = {"type": type(exc).__name__, "message": str(exc)[:2000]}
                log.error("job failed", job_id=job.id, type=error["type"], error=error["message"])
            self._record_error(error["type"], error["message"], job.id)
        finally:
            elapsed = time.monotonic() - started
            with self._lock:
                self.busy_seconds += elapsed
                self._current = None
        self._io.submit(lambda: self._finish(run, outcome, error, started))
        self._refresh_state()

    def _should_stop(self, run: JobRun, steps_left_in_image: int) -> bool:
        if run.fenced:
            run.stop_reason = "fenced"
        elif run.cancel.is_set():
            run.stop_reason = "cancelled"
        elif run.io_error is not None:
            run.stop_reason = "io"
        elif self._deadline is not None and not self._fits(run, steps_left_in_image):
            run.stop_reason = "interrupted"
        return run.stop_reason is not None

    def _fits(self, run: JobRun, steps_left_in_image: int) -> bool:
        job = run.job
        images_after = sum(1 for i in range(run.image, job.count) if i not in run.prepared.done)
        steps_left = steps_left_in_image + images_after * job.steps
        step_seconds = self._step_seconds if self._step_seconds is not None else 1.0
        to_upload = images_after + 1
        needed = steps_left * step_seconds + to_upload * self._upload_seconds + self.cfg.notice_margin_seconds
        deadline = self._deadline
        return deadline is not None and time.monotonic() + needed <= deadline

    def _on_step(self, run: JobRun, step: int) -> bool:
        now = time.monotonic()
        took = now - run.last_step_at
        run.last_step_at = now
        self._step_seconds = took if self._step_seconds is None else 0.8 * self._step_seconds + 0.2 * took
        with run.lock:
            run.step = step
            if run.first_step_at is None:
                run.first_step_at = utc_now()
        if now - run.last_progress_write >= PROGRESS_INTERVAL:
            run.last_progress_write = now
            self._status(run)
        return self._should_stop(run, run.job.steps - step)

    # ----- the I/O lane's side of a job -------------------------------------------------------

    def _status(self, run: JobRun) -> None:
        """Queue a status.json write unless one is already queued (it will carry this progress)."""
        with run.lock:
            if run.status_pending:
                return
            run.status_pending = True

        def write() -> None:
            with run.lock:
                run.status_pending = False
            if run.io_error is not None or run.fenced or run.lease is None:
                return
            try:
                write_status(self.store, run.lease, run.doc())
            except Fenced as fenced:
                run.fenced = True
                log.warning("attempt fenced", job_id=run.job.id, reason=str(fenced))
            except TRANSIENT_ERRORS as exc:
                run.io_error = exc

        self._io.submit(write)

    def _upload(self, run: JobRun, index: int, image: Any) -> None:
        if run.io_error is not None or run.fenced:
            return
        t0 = time.monotonic()
        try:
            written = self.store.put_png_new(run.job.bucket, run.job.image_key(index),
                                             png_bytes(image, run.job, index))
        except TRANSIENT_ERRORS as exc:
            run.io_error = exc
            return
        if not written:
            # another attempt (one whose lease ran out under it) wrote this image first: the same
            # job, index and seed, so it stands; ours is not written over it
            log.info("image already written", job_id=run.job.id, index=index)
        self._upload_seconds = 0.8 * self._upload_seconds + 0.2 * (time.monotonic() - t0)
        with run.lock:
            run.uploaded.add(index)
        with self._lock:
            self.images_done += 1

    def _finish(self, run: JobRun, outcome: str, error: dict[str, str] | None, started: float) -> None:
        job, message, attempt = run.job, run.prepared.message, run.prepared.attempt
        if run.fenced:
            self._fenced(job.id, message, Fenced("a later attempt wrote the job's status"))
            return
        if run.io_error is not None:
            outcome = "retry"
            error = {"type": type(run.io_error).__name__, "message": str(run.io_error)[:2000]}
            self._record_error(error["type"], error["message"], job.id)
        state = {"retry": "requeued"}.get(outcome, outcome)
        with run.lock:
            run.state, run.error, run.finished_at = state, error, utc_now()
            if state == "succeeded":
                run.image, run.step = job.count, job.steps
        try:
            assert run.lease is not None
            write_status(self.store, run.lease, run.doc())
        except Fenced as fenced:
            self._fenced(job.id, message, fenced)
            return
        except TRANSIENT_ERRORS as exc:
            if outcome in ("succeeded", "cancelled", "failed"):
                self._retry_later(job.id, message, attempt, exc)  # final status first, then delete
                return
        if outcome == "retry":
            self._retry_later(job.id, message, attempt, error or {"type": "Error", "message": "retry"})
        elif outcome == "requeued":
            self._release(message, 0, "interrupted", job.id)
        else:
            self._delete(message, job.id)
            if outcome == "succeeded":
                with self._lock:
                    self.jobs_done += 1
        wall = time.monotonic() - started
        log.info("job finished", job_id=job.id, state=state, attempt=attempt, images=len(run.outputs()),
                 wallSeconds=round(wall, 4), pipelineSeconds=round(run.pipeline_seconds, 4), error=error)

    # ----- the background ticker ---------------------------------------------------------------

    def _lease_loop(self) -> None:
        """The visibility heartbeat, on a thread of its own: no S3 call (each can block a minute)
        ever delays it past the visibility timeout."""
        while not self._closed.wait(self.cfg.heartbeat_seconds):
            self._extend_held()

    def _tick_loop(self) -> None:
        now = time.monotonic()
        next_record = now
        next_cancel = now
        while not self._closed.is_set():
            now = time.monotonic()
            run = self._current
            if run is not None and now >= next_cancel:
                next_cancel = now + CANCEL_POLL_SECONDS
                try:
                    if self.store.exists(run.job.bucket, run.job.key("cancel")):
                        run.cancel.set()
                except TRANSIENT_ERRORS as exc:
                    log.warning("cancel check failed", job_id=run.job.id, error=str(exc))
            if now >= next_record or self._node_record_due:
                self._node_record_due = False
                next_record = now + self.cfg.node_record_seconds
                self._write_node_record()
            self._closed.wait(0.1)

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

    # ----- serve -------------------------------------------------------------------------------

    def _start(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def load(self) -> bool:
        self._set_phase("LOADING")
        try:
            if self.engine.pipe is None:
                self.engine.load()
        except Exception as exc:
            with self._lock:
                self._failed = True
            self._record_error(type(exc).__name__, str(exc))
            self._set_phase("FAILED", f"model load failed: {exc}")
            self._write_node_record()
            return False
        return True

    def serve(self) -> int:
        """Load the model, run jobs until stopped. 0 after a clean stop, 1 when the model failed."""
        if not self.load():
            return 1
        self._io.start()
        self._start("lease", self._lease_loop)
        self._start("ticker", self._tick_loop)
        self._start("receiver", self._receive_loop)
        self._set_phase("READY")
        self._refresh_state()  # DRAINING when a drain or notice came while the model loaded
        while True:
            prepared = self._take()
            if prepared is None:
                break
            self._run(prepared)
        self._shutdown()
        return 0

    def _shutdown(self) -> None:
        receiver = next(t for t in self._threads if t.name == "receiver")
        # A long poll in flight cannot be cancelled; wait for it so a message it brings is released
        # now rather than hidden for a whole visibility timeout.
        receiver.join(self.cfg.wait_seconds + 5)
        if not self._io.flush(60):
            log.warning("uploads still pending at stop")
        with self._lock:
            left = list(self._held.values())
        for message in left:
            self._release(message, 0, "runtime stopping")
        with self._lock:
            self._stopped = True
        self._refresh_state("stopped")
        self._write_node_record()
        self._closed.set()
        self._io.close()
