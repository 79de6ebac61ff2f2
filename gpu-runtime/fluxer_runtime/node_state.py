"""State, health, the state file and the node record.

A part of Worker (worker.py); it uses the attributes Worker.__init__ sets."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from . import __version__
from .aws import TRANSIENT_ERRORS
from .logs import log, utc_now


class NodeState:
    # ----- state and health ------------------------------------------------------------------

    def _refresh_state(self, reason: str | None = None) -> None:
        with self._lock:
            if self._failed:
                state = "FAILED"
            elif self._stopped:
                state = "STOPPED"
            elif self._state in ("STARTING", "PULLING", "LOADING"):
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
        """STARTING, PULLING, LOADING, READY, FAILED: set by serve() itself, each written to the node
        record at once (the ticker does not run before READY)."""
        with self._lock:
            self._state = state
            self._state_reason = reason
        log.info("state", state=state, reason=reason)
        self._write_state_file()
        self._write_node_record()

    @property
    def state(self) -> str:
        return self._state

    def health(self) -> dict[str, Any]:
        gpu = self._gpu()  # outside the lock: a CUDA query must never hold up the GPU thread
        with self._lock:
            current = self._current
            job = None
            if current is not None:
                with current.lock:
                    job = {"id": current.job.id, "step": current.step, "steps": current.job.steps,
                           "image": current.image, "count": current.job.count,
                           "startedAt": current.started_at}
            return {
                "state": self._state,
                "model": self.cfg.model,
                "device": {"name": self.engine.device.name, "memoryBytes": self.engine.device.memory_bytes},
                "currentJob": current.job.id if current else None,  # kept for older callers: see `job`
                "job": job,
                "jobsDone": self.jobs_done,
                "imagesDone": self.images_done,
                "lastError": self.last_error,
                "version": __version__,
                "instanceId": self.node.instance_id,
                "startedAt": self.started_at,
                "stateReason": self._state_reason,
                "memoryPolicy": self.engine.policy,
                "busySeconds": round(self.busy_seconds, 3),
                "release": self.cfg.release,
                "uptimeSeconds": round(time.monotonic() - self.started_monotonic, 3),
                "pid": os.getpid(),
                "counters": self.counters.summary(),
                "gpu": gpu,
                "pull": self._pull.doc() if self._pull is not None else None,
            }

    def _gpu(self) -> dict[str, Any]:
        """The accelerator and the memory in use on it now: device-wide (what nvidia-smi shows, all
        processes) from cudaMemGetInfo, else what this process's tensors hold. memoryUsedBytes is None
        on a CPU, where torch is not even asked."""
        device = self.engine.device
        used: int | None = None
        if device.type == "cuda":
            try:
                import torch

                try:
                    free, total = torch.cuda.mem_get_info()
                    used = int(total - free)
                except RuntimeError:
                    used = int(torch.cuda.memory_allocated())
            except Exception:  # an odd driver state must not break the health endpoint
                used = None
        return {"name": device.name, "memoryBytes": device.memory_bytes, "memoryUsedBytes": used}

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
            path.parent.mkdir(parents=True, exist_ok=True)  # under a FLUXER_ROOT nothing made /run/fluxer
            tmp.write_text(json.dumps(doc))
            tmp.replace(path)  # readers never see half a document
        except OSError as exc:
            log.warning("cannot write state file", path=str(path), error=str(exc))

    def _record_error(self, error_type: str, message: str, job_id: str | None = None) -> None:
        with self._lock:
            self.last_error = {"type": error_type, "message": message, "jobId": job_id, "at": utc_now()}

    # ----- the node record (schema/node.v1.schema.json) -------------------------------------

    @property
    def jobs_done(self) -> int:
        return self.counters.jobs["succeeded"]

    @property
    def images_done(self) -> int:
        return self.counters.images_done

    @property
    def busy_seconds(self) -> float:
        return self.counters.busy_seconds

    def _record_key(self) -> str:
        return f"{self.cfg.prefix}nodes/{self.node.instance_id}.json"

    def node_record(self) -> dict[str, Any]:
        health = self.health()
        node = self.node
        with self._lock:
            counters = self.counters.doc()
        record = {
            "instanceId": node.instance_id,
            "state": health["state"],
            "stateReason": health["stateReason"],
            "instanceType": node.instance_type,
            "az": node.az,
            "azId": node.az_id,
            "region": node.region or self.cfg.region,
            "lifecycle": node.lifecycle,
            "launchTime": node.launch_time,
            "release": self.cfg.release,
            "stack": self.cfg.stack,
            "model": self.cfg.model,
            "memoryPolicy": health["memoryPolicy"],
            "bucket": self.cfg.bucket,
            "prefix": self.cfg.prefix,
            "version": __version__,
            "startedAt": self.started_at,
            "lastSeenAt": utc_now(),
            "currentJob": health["currentJob"],
            **counters,
            "device": health["device"],
            "pull": health["pull"],
            "fleet": self.fleet_record(),
        }
        # unknown fields are omitted, never null; currentJob stays: null there means idle
        return {k: v for k, v in record.items() if v is not None or k == "currentJob"}

    def _restore_node_record(self) -> None:
        """Continue this node's counts from its last record (a restart; the bootstrap's record):
        a restart must not reset what a cost report adds up."""
        with self._lock:
            self.counters.first_seen_at = self.counters.first_seen_at or self.started_at
        if not self.cfg.bucket:
            return
        try:
            previous = self.store.get_json(self.cfg.bucket, self._record_key())
        except TRANSIENT_ERRORS as exc:
            log.warning("node record not read back; counts start at zero", error=str(exc))
            return
        if not previous or previous.get("instanceId") != self.node.instance_id:
            return
        with self._lock:
            self.counters.restore(previous)
        log.info("node record read back", seq=self.counters.seq, jobs=self.counters.jobs,
                 firstSeenAt=self.counters.first_seen_at)

    def _write_node_record(self) -> None:
        if not self.cfg.bucket:
            return
        with self._record_lock:  # one writer at a time, so seq and the object agree
            with self._lock:
                self.counters.seq += 1
            try:
                self.store.put_json(self.cfg.bucket, self._record_key(), self.node_record())
            except TRANSIENT_ERRORS as exc:
                log.warning("node record not written", error=str(exc))
