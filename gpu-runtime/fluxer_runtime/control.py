"""Drain, resume, stop, spot notices, rebalance and power-off rules.

A part of Worker (worker.py); it uses the attributes Worker.__init__ sets."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from .imds import Notice
from .logs import log, utc_now
from .power import power_off


class Control:
    # ----- control: drain, resume, stop, notices ----------------------------------------------

    def drain(self, reason: str, deadline: float | None = None, stop: bool = False) -> None:
        """Stop receiving and release the prefetched message now. The running job goes on unless
        `deadline` (monotonic) is too close for its remaining steps and uploads."""
        with self._cond:
            self._draining = True
            self._stopping = self._stopping or stop
            # The reason first, with the deadline: the GPU thread may requeue the running job (naming
            # this reason) before the state is refreshed below, after the prefetched message's release.
            self._state_reason = reason
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
        self._stop_requested.set()
        self.drain(reason, deadline=time.monotonic() + grace, stop=True)

    def on_notice(self, notice: Notice) -> None:
        if notice.kind == "terminating":
            self.on_terminating()  # fleet.py: the termination lifecycle hook
            return
        if notice.kind == "rebalance":
            if self.asg is not None:
                self.on_fleet_rebalance()  # fleet.py: serve on, Auto Scaling ends the node
                return
            # Higher risk of interruption, no deadline yet: take no new work, finish what runs.
            self.drain("rebalance recommendation")
            with self._lock:
                start, self._rebalance_timer = not self._rebalance_timer, True
            if start:
                self._start("rebalance", self._rebalance_wait)
            return
        self._spot_notice = True
        interruption = {"action": notice.action or "unknown", "noticedAt": utc_now()}
        if notice.time is not None:
            interruption["time"] = notice.time.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        with self._lock:
            self.counters.interruption = interruption
        self._node_record_due = True
        seconds = 0.0
        if notice.time is not None:
            seconds = (notice.time - datetime.now(timezone.utc)).total_seconds()
        self.drain(f"spot {notice.action or 'interruption'} notice for {notice.time}",
                   deadline=time.monotonic() + seconds, stop=True)

    def _rebalance_wait(self) -> None:
        """A recommendation is not a notice: it may never be followed by one. Draining forever
        would bill an idle node, so after FLUXER_REBALANCE_SECONDS either take work again or halt.
        A node that is not a fleet node's only: a fleet node never drains for a recommendation."""
        if self._closed.wait(self.cfg.rebalance_seconds):
            return
        with self._lock:
            self._rebalance_timer = False
            if self._spot_notice or self._stopping:
                return  # the interruption came, or a stop: that path ends the node
        if self.cfg.rebalance_action == "resume":
            log.info("no interruption followed the rebalance recommendation: resuming",
                     waitedSeconds=self.cfg.rebalance_seconds)
            self.resume()
            return
        self._poweroff_reason = (f"rebalance recommendation with no interruption notice after "
                                 f"{self.cfg.rebalance_seconds:g}s (FLUXER_REBALANCE_ACTION=poweroff)")
        self.drain(self._poweroff_reason, deadline=time.monotonic() + self.cfg.drain_seconds, stop=True)

    def _fail(self, reason: str) -> None:
        """The runtime cannot work at all (no model, no queue, no bucket): say so and stop serving."""
        with self._cond:
            self._failed = True
            self._stopping = True
            self._cond.notify_all()
        self._refresh_state(reason)
        log.error("runtime failed", reason=reason)

    def _failed_power_off(self) -> None:
        """FAILED stays up FLUXER_FAILED_POWEROFF_SECONDS to be looked at, its reason already in the
        node record, then halts: a node that cannot work must not be billed."""
        self._write_node_record()
        if self._stop_requested.wait(self.cfg.failed_poweroff_seconds):
            return  # stopped by hand (SIGTERM): the operator is on it
        power_off(self.cfg.poweroff_command, f"runtime FAILED: {self._state_reason}")

    def _ready_deadline_watch(self) -> None:
        """The dead-man's switch: a runtime not READY FLUXER_READY_DEADLINE_SECONDS after it started
        (a model load or download that hangs) says why in its record and halts the node. Counted
        from the runtime's start, not the boot: a runtime restarted on a node up for hours still
        gets its whole bound."""
        if self._ready_or_done.wait(self.cfg.ready_deadline_seconds):
            return
        with self._cond:
            if self._ready_or_done.is_set() or self._failed or self._state not in ("STARTING", "PULLING",
                                                                                     "LOADING"):
                return  # READY just now, or failed its own way
            self._failed = self._stopping = self._deadman_fired = True
            phase = self._state
            self._cond.notify_all()
        reason = (f"not READY {self.cfg.ready_deadline_seconds:g}s after the runtime started, still "
                  f"{phase} (FLUXER_READY_DEADLINE_SECONDS)")
        log.error("runtime failed", reason=reason)
        self._set_phase("FAILED", reason)  # written to the node record before the power-off
        self._boot_failed(reason)
        power_off(self.cfg.poweroff_command, f"dead-man's switch: {reason}")
