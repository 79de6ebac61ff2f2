"""Running a job on the GPU thread, and the I/O lane's side of it: fenced status writes, image
uploads, the final status.

A part of Worker (worker.py); it uses the attributes Worker.__init__ sets."""

from __future__ import annotations

import time
from typing import Any

from .aws import TRANSIENT_ERRORS
from .fence import Fenced, Lease, write_status
from .logs import log, utc_now
from .pipelines import is_out_of_memory
from .status import JobRun, Prepared, png_bytes

PROGRESS_INTERVAL = 0.5  # status.json progress writes: at most twice a second


class Running:
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
            self.job_logs.discard(job.id)
            return
        except TRANSIENT_ERRORS as exc:
            self._retry_later(job.id, prepared.message, prepared.attempt, exc, job)
            return  # its lines stay open: a next attempt here appends to them
        started = time.monotonic()
        with self._lock:
            self._current = run
            if prepared.message.sent_at is not None:
                self.counters.queue_wait.observe(time.time() - prepared.message.sent_at)
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
                with self._lock:
                    self.counters.generation.observe(time.monotonic() - t0)
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
                self.counters.busy_seconds += elapsed
                self._current = None
        self._io.submit(lambda: self._finish(run, outcome, error, started))
        self._io.submit(lambda: self._write_job_log(run))  # after the final status: it never waits on this
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
        else:
            log.info("image stored", job_id=run.job.id, index=index)
        self._upload_seconds = 0.8 * self._upload_seconds + 0.2 * (time.monotonic() - t0)
        with run.lock:
            run.uploaded.add(index)
        with self._lock:
            self.counters.images_done += 1

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
            run.fenced = True
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
            self._count(outcome)
        else:
            self._delete(message, job.id)
            self._count(outcome)
        wall = time.monotonic() - started
        log.info("job finished", job_id=job.id, state=state, attempt=attempt, images=len(run.outputs()),
                 wallSeconds=round(wall, 4), pipelineSeconds=round(run.pipeline_seconds, 4), error=error)

    def _write_job_log(self, run: JobRun) -> None:
        """The attempt's lines, appended to the job's log.jsonl (joblogs.py). A fenced attempt
        writes nothing: the job belongs to a later one."""
        lines = self.job_logs.take(run.job.id)
        if run.fenced:
            return
        self.job_logs.write(self.store, run.job, lines)
