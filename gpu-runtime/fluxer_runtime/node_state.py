"""State, health, the state file and the node record.

A part of Worker (worker.py); it uses the attributes Worker.__init__ sets."""

from __future__ import annotations

import json
import os
import threading
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
            "stateReason": health["stateReason"],
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
