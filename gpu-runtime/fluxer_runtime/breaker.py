"""The boot-failure breaker, a part of Worker (worker.py) beside Fleet (fleet.py), whose state it uses.

A boot that never reached READY is counted in this node's record; when the group's failed boots (its
nodes' records under the bucket's nodes/) reach FLUXER_BOOT_FAILURE_LIMIT within
FLUXER_BOOT_FAILURE_WINDOW_SECONDS, the fleet is stopped (min and desired 0, the group tagged
fluxer:breaker with why) before this node powers off: otherwise Auto Scaling would replace it, and
every replacement fail the same way, in an endless, billed loop."""

from __future__ import annotations

from datetime import datetime, timezone

from .aws import TRANSIENT_ERRORS
from .fleet_policy import breaker_decision
from .logs import log, utc_now


class Breaker:
    def _boot_failed(self, reason: str) -> None:
        """A boot that never reached READY: counted (this node's record says so), and when the
        group's recent failed boots reach the limit, the fleet is stopped before this node halts."""
        if self.asg is None:
            return
        self._boot_failed_at = utc_now()
        self._write_node_record()
        try:
            times = self._failed_boot_times()
            now = datetime.now(timezone.utc).timestamp()
            window, limit = self.cfg.boot_failure_window_seconds, self.cfg.boot_failure_limit
            if not breaker_decision(times, now, window, limit):
                log.info("boot failed; the fleet goes on", failedBoots=len(times),
                         limit=self.cfg.boot_failure_limit)
                return
            why = (f"{len(times)} failed boots within {self.cfg.boot_failure_window_seconds:g}s "
                   f"(FLUXER_BOOT_FAILURE_LIMIT={self.cfg.boot_failure_limit}); last: {reason}")
            self.asg.stop_fleet(f"{utc_now()} {self.node.instance_id}: {why}")
            self._breaker = {"trippedAt": utc_now(), "reason": why}
            log.error("breaker: fleet stopped (min and desired 0)", group=self.asg.group, reason=why)
        except TRANSIENT_ERRORS as exc:
            log.warning("breaker check failed", error=str(exc))
        self._write_node_record()

    def _failed_boot_times(self) -> list[float]:
        assert self.asg is not None and self.cfg.bucket
        times: list[float] = []
        for key in self.store.keys(self.cfg.bucket, f"{self.cfg.prefix}nodes/"):
            if not key.endswith(".json"):
                continue
            doc = self.store.get_json(self.cfg.bucket, key) or {}
            fleet = doc.get("fleet") if isinstance(doc.get("fleet"), dict) else None
            if doc.get("state") != "FAILED" or not fleet or fleet.get("group") != self.asg.group:
                continue
            try:
                at = str(fleet["bootFailedAt"]).replace("Z", "+00:00")
                times.append(datetime.fromisoformat(at).timestamp())
            except (KeyError, ValueError):
                continue
        return times
