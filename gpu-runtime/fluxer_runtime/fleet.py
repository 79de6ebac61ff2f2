"""The node protocol of a fleet node (docs/fleet.md, "The node protocol"): what a runtime whose node
belongs to an Auto Scaling group (FLUXER_ASG_NAME) does about that group, on a thread of its own,
never the GPU's. The rules are fleet_policy.py's pure functions; this is their I/O.

  protection  SetInstanceProtection on itself while it holds a job; lifted after
              FLUXER_PROTECT_HYSTERESIS_SECONDS idle
  hook        IMDS autoscaling/target-lifecycle-state = Terminated (the NoticeWatcher): drain, finish
              the running job if it fits the hook's global timeout (else release it; at once when the
              group's max is 0), heartbeat meanwhile so the wait goes on, then CompleteLifecycleAction
              CONTINUE once the worker has wound down
  idle        FLUXER_IDLE_SECONDS with no job and a receive that came back empty, desired > min:
              TerminateInstanceInAutoScalingGroup on itself, decrementing (through the hook); a
              surplus node (desired > max(1, min)) other than the keeper after
              FLUXER_SURPLUS_IDLE_SECONDS
  rebalance   a rebalance recommendation: serve on (no drain, no FLUXER_REBALANCE_SECONDS timer); Capacity
              Rebalancing's replacement ends the node through the hook, else the spot notice if one comes
  breaker     (breaker.py) a boot that failed (FAILED before READY) counts the group's failed boots in the
              node records; FLUXER_BOOT_FAILURE_LIMIT within FLUXER_BOOT_FAILURE_WINDOW_SECONDS stops the
              fleet (min and desired 0, the group tagged fluxer:breaker with why) before the power-off

A part of Worker (worker.py); it uses the attributes Worker.__init__ sets. Every AWS error here is
logged, never fatal: a node that cannot reach Auto Scaling still serves its queue."""

from __future__ import annotations

import time
from typing import Any

from .autoscaling import AutoScaling, Hook
from .aws import TRANSIENT_ERRORS
from .fleet_policy import idle_decision, keeper_of, protect_decision
from .logs import log, utc_now

FLEET_TICK_SECONDS = 0.5
RETRY_AFTER_ERROR_SECONDS = 10.0
HOOK_MARGIN_SECONDS = 15.0  # of the hook's timeout, kept for the uploads and the completion


class Fleet:
    asg: AutoScaling | None

    def _fleet_init(self, asg: AutoScaling | None) -> None:
        self.asg = asg if asg is not None and self.node.instance_id and not self.node.instance_id.startswith(
            "local-") else None
        self._protected = False
        self._idle_since: float | None = None
        self._last_receive: tuple[float, bool] | None = None  # (monotonic, came back empty)
        self._idle_check_at = 0.0  # monotonic: no Describe call for the idle rule before this
        self._hook: Hook | None = None  # set: this node is in Terminating:Wait
        self._hook_done = False
        self._leaving = False
        self._fleet_retry_at = 0.0
        self._boot_failed_at: str | None = None
        self._breaker: dict[str, Any] | None = None
        self._rebalance: dict[str, Any] | None = None  # set: EC2 recommended a rebalance

    def fleet_record(self) -> dict[str, Any] | None:
        """The node record's `fleet` object (schema/node.v1.schema.json)."""
        if self.asg is None:
            return None
        doc: dict[str, Any] = {"group": self.asg.group, "protected": self._protected}
        if self._hook is not None:
            doc["terminating"] = True
        if self._rebalance:
            doc["rebalance"] = dict(self._rebalance)
        if self._boot_failed_at:
            doc["bootFailedAt"] = self._boot_failed_at
        if self._breaker:
            doc["breaker"] = self._breaker
        return doc

    def _holding_job(self) -> bool:
        with self._lock:
            return self._current is not None or self._slot is not None

    def _fleet_loop(self) -> None:
        while not self._closed.wait(FLEET_TICK_SECONDS):
            now = time.monotonic()
            holding = self._holding_job()
            if holding:
                self._idle_since, self._idle_check_at = None, 0.0
            elif self._idle_since is None:
                self._idle_since = now
            if now < self._fleet_retry_at:
                continue
            try:
                self._fleet_step(holding, now)
            except TRANSIENT_ERRORS as exc:
                self._fleet_retry_at = now + RETRY_AFTER_ERROR_SECONDS
                log.warning("fleet call failed", group=self.asg.group if self.asg else None, error=str(exc))

    def _fleet_step(self, holding: bool, now: float) -> None:
        assert self.asg is not None
        if self._hook is not None:
            return  # terminating: the hook's thread has the node
        decision = protect_decision(holding, self._protected, self._idle_since, now,
                                    self.cfg.protect_hysteresis_seconds)
        if decision is not None:
            self.asg.protect(self.node.instance_id, decision)
            self._protected = decision
            self._node_record_due = True
            log.info("scale-in protection", protected=decision, group=self.asg.group)
        if self._leaving or self._draining:
            return
        last = self._last_receive
        # Confirmed empty: the latest receive, made since the node went idle, brought nothing.
        confirmed = bool(last and last[1] and self._idle_since is not None and last[0] >= self._idle_since)
        idle, full, surplus = self._idle_since, self.cfg.idle_seconds, self.cfg.surplus_idle_seconds
        # Not before the shorter idle time (a surplus node's) with the queue confirmed empty: no
        # Describe call until time and queue say so, and then one per surplus period at most.
        if now < self._idle_check_at or not idle_decision(idle, now, full, confirmed, 2, 0, surplus, False):
            return
        size = self.asg.size()
        assert idle is not None
        if size.desired <= size.minimum:
            log.info("idle, but the fleet is at its minimum: staying", desired=size.desired, min=size.minimum)
            self._idle_check_at = now + full  # look again after another idle period
            return
        keeper = keeper_of(self._ready_members(size.in_service)) == self.node.instance_id
        if not idle_decision(idle, now, full, confirmed, size.desired, size.minimum, surplus, keeper):
            # The keeper (or the last node) waits its full idle time; look again then, or sooner
            # (the group may grow, making this node surplus).
            self._idle_check_at = min(idle + full, now + min(full, surplus))
            return
        self._leave(size.desired, size.minimum)

    def _leave(self, desired: int, minimum: int) -> None:
        assert self.asg is not None
        idle_for = round(time.monotonic() - (self._idle_since or time.monotonic()), 1)
        self._leaving = True
        self.drain(f"idle {idle_for}s with an empty queue: leaving the fleet")
        if self._holding_job():  # a message arrived between the check and the drain: it goes on
            self._leaving = False
            self.resume()
            return
        try:
            if self._protected:
                self.asg.protect(self.node.instance_id, False)
                self._protected = False
            self.asg.leave(self.node.instance_id)
        except TRANSIENT_ERRORS as exc:
            # AWS refuses a decrement below min (another node left first): stay and serve.
            log.warning("leaving the fleet failed: serving on", error=str(exc))
            self._leaving = False
            self._idle_since = time.monotonic()
            self.resume()
            return
        log.info("left the fleet", group=self.asg.group, idleSeconds=idle_for, desiredBefore=desired,
                 min=minimum)

    def _ready_members(self, in_service: tuple[str, ...]) -> list[str]:
        """This node and the group's InService instances whose node record says READY or BUSY: the
        keeper is chosen among nodes that serve, never one still booting (InService comes minutes
        before READY), so a surplus node never leaves the fleet to a node that cannot take a job yet.
        Read only when a surplus node's time has come: one GET per member."""
        ready = [self.node.instance_id]
        for instance_id in in_service:
            if instance_id == self.node.instance_id or not self.cfg.bucket:
                continue
            doc = self.store.get_json(self.cfg.bucket, f"{self.cfg.prefix}nodes/{instance_id}.json") or {}
            if doc.get("state") in ("READY", "BUSY"):
                ready.append(instance_id)
        return ready

    # ----- a rebalance recommendation ------------------------------------------------------------

    def on_fleet_rebalance(self) -> None:
        """EC2 recommends a rebalance (a higher risk of interruption, no deadline). A fleet node serves
        on: with Capacity Rebalancing (`fleet up` turns it on) Auto Scaling launches a replacement and,
        once that is InService, ends this node through the termination hook (on_terminating: the
        running job finishes, nothing is lost); draining now would leave the fleet a worker short for
        the replacement's whole boot, and a one-node fleet none. Without Capacity Rebalancing nothing
        replaces it, and only the spot notice, if one follows, ends it (its 2-minute path). Either way
        no drain, so nothing for FLUXER_REBALANCE_SECONDS to bound, and FLUXER_REBALANCE_ACTION=poweroff
        does not apply: its group ends a fleet node, not a halt behind the group's back."""
        assert self.asg is not None
        try:
            capacity_rebalance = self.asg.size().capacity_rebalance
        except (LookupError, *TRANSIENT_ERRORS) as exc:
            log.warning("group not read at the rebalance recommendation", error=str(exc))
            capacity_rebalance = None
        note: dict[str, Any] = {"noticedAt": utc_now()}
        if capacity_rebalance is not None:
            note["capacityRebalance"] = capacity_rebalance
        self._rebalance = note
        self._node_record_due = True
        if capacity_rebalance is False:
            then = "no Capacity Rebalancing: no replacement; the spot notice, if one follows, ends the node"
        else:
            then = "Auto Scaling launches a replacement and ends this node through the termination hook"
        log.info("rebalance recommendation: serving on", group=self.asg.group,
                 capacityRebalance=capacity_rebalance, then=then)

    # ----- the termination lifecycle hook ------------------------------------------------------

    def on_terminating(self) -> None:
        """IMDS says Terminated: Auto Scaling is removing this instance (scale-in, refresh, our own leave)."""
        if self.asg is None or self._hook is not None:
            return
        try:
            hook = self.asg.terminating_hook()
        except TRANSIENT_ERRORS as exc:
            log.warning("lifecycle hook not read", error=str(exc))
            hook = None
        if hook is None:  # no hook: the instance goes when AWS takes it; hand the work back now
            self.drain("Auto Scaling is terminating this instance", deadline=time.monotonic(), stop=True)
            return
        self._hook = hook
        self._node_record_due = True
        # Heartbeats keep the instance waiting up to the hook's global timeout, so the running job finishes
        # here when it fits that (handing it back would only make another node redo it). A fleet being taken
        # away (max 0: `fleet down`, switched off) wants the nodes gone: its job goes back at its next step.
        taken_away = self._group_max() == 0
        hold = 0.0 if taken_away else max(0.0, hook.global_timeout - HOOK_MARGIN_SECONDS)
        log.info("termination lifecycle hook: draining", hook=hook.name,
                 heartbeatTimeoutSeconds=hook.heartbeat_timeout, globalTimeoutSeconds=hook.global_timeout,
                 holdSeconds=hold, fleetTakenAway=taken_away)
        self._start("hook-heartbeat", lambda: self._hook_heartbeat(time.monotonic()))
        why = "the fleet is being taken away: max 0" if taken_away else f"lifecycle hook {hook.name}"
        self.drain(f"Auto Scaling is terminating this instance ({why})", deadline=time.monotonic() + hold,
                   stop=True)

    def _group_max(self) -> int | None:
        assert self.asg is not None
        try:
            return self.asg.size().maximum
        except (LookupError, *TRANSIENT_ERRORS) as exc:
            log.warning("group not read at termination: finishing the job", error=str(exc))
            return None

    def _hook_heartbeat(self, last_ok: float) -> None:
        """RecordLifecycleActionHeartbeat every third of the hook's timeout: each one restarts it. One that
        fails leaves the wait ending a heartbeat timeout after the last that worked: the job must fit that."""
        hook = self._hook
        assert hook is not None and self.asg is not None
        while not self._closed.wait(max(1.0, hook.heartbeat_timeout / 3)):
            try:
                self.asg.heartbeat(hook.name, self.node.instance_id)
                last_ok = time.monotonic()
            except TRANSIENT_ERRORS as exc:
                cap = last_ok + hook.heartbeat_timeout - HOOK_MARGIN_SECONDS
                with self._cond:
                    self._deadline = cap if self._deadline is None else min(self._deadline, cap)
                log.warning("lifecycle heartbeat failed: the job must fit the last heartbeat's timeout",
                            hook=hook.name, error=str(exc),
                            deadlineInSeconds=round(cap - time.monotonic(), 1))

    def _complete_hook(self) -> None:
        """After serve() has wound down (job finished or released, uploads done): let AWS go on."""
        hook = self._hook
        if hook is None or self.asg is None or self._hook_done:
            return
        self._hook_done = True
        try:
            self.asg.complete(hook.name, self.node.instance_id, "CONTINUE")
            log.info("lifecycle action completed", hook=hook.name, result="CONTINUE")
        except TRANSIENT_ERRORS as exc:
            log.warning("CompleteLifecycleAction failed: the hook's timeout ends the wait", error=str(exc))
