"""The nodes' and the CLI's side of the replayed day: dispatch, jobs, hand-backs, and the decisions
the nodes run (`fluxer_runtime.fleet_policy`, looked up at each call so a test can swap one) and the
CLI's scale-from-zero rule. A part of Sim (engine.py): it uses the fields Sim declares."""

from __future__ import annotations

import math

from fluxer_runtime import fleet_policy

from model import Job, Node, scale_from_zero_decision


class NodeSide:
    def node_up(self) -> bool:
        return any(n.state == "ready" and not n.draining for n in self.nodes)

    def queue_activity(self) -> None:
        if self.now - self.queue_last_active >= self.policy.queue_inactive_after:
            self.metrics_resume_at = self.now + self.policy.metrics_resume_after
        self.queue_last_active = self.now

    def set_protection(self, node: Node, decision: bool | None) -> None:
        if decision is not None:
            node.protected = decision
            self.counters.protection_calls += 1

    def dispatch(self) -> None:
        for node in self.nodes:
            if not self.queue:
                return
            if node.state == "ready" and not node.draining and node.job is None:
                self.start(node, self.queue.pop(0))

    def start(self, node: Node, job: Job) -> None:
        spec = self.trace["types"][node.itype]
        half = self.policy.jitter / 2
        per_image = spec["secondsPerImage"] * (1 + self.rng.uniform(-half, half))
        first_call = 0.0 if node.warm else spec["boot"]["firstCall"]
        node.warm = True
        node.job, node.per_image, node.idle_since = job, per_image, None
        node.job_started = self.now + first_call
        node.job_end = node.job_started + (job.images - job.done) * per_image + self.policy.upload_seconds
        node.job_token += 1
        if job.started is None:
            job.started = self.now
        self.set_protection(node, fleet_policy.protect_decision(True, node.protected, None, self.now,
                                                                self.policy.protect_hysteresis))
        self.at(node.job_end, "job_done", node, node.job_token)

    def finish(self, node: Node) -> None:
        job = node.job
        assert job is not None
        job.done, job.finished = job.images, self.now
        node.job, node.idle_since = None, self.now
        self.set_protection(node, fleet_policy.protect_decision(False, node.protected, self.now, self.now,
                                                                self.policy.protect_hysteresis))
        if node.hook:
            self.gone_soon(node, "scaled-in")
        else:
            self.at(self.now + self.policy.poll_seconds, "poll", node)

    def gone_soon(self, node: Node, reason: str) -> None:
        node.state, node.end_reason = "terminating", reason
        self.at(self.now + self.policy.terminate_seconds, "gone", node)

    def hand_back(self, node: Node) -> None:
        """The notice leaves too little time: the job stops at its next image and goes back to the
        queue, resuming from the first missing image (docs/runtime.md, spot interruptions)."""
        job = node.job
        assert job is not None
        made = max(0, math.floor((self.now - node.job_started) / node.per_image)) if node.per_image else 0
        job.done = min(job.images - 1, job.done + made)
        job.handed_back += 1
        self.counters.jobs_handed_back += 1
        node.job, node.job_token = None, node.job_token + 1
        self.at(self.now + self.policy.release_delay, "released", job)

    def on_arrival(self, job: Job) -> None:
        job.cold = not self.node_up()
        self.queue.append(job)
        self.queue_activity()
        if job.client == "cli" and self.policy.cli_scale_from_zero:
            p = self.policy
            to = scale_from_zero_decision(self.desired, p.min_size, p.max_size, len(self.queue))
            if to is not None:
                self.desired = to
                self.counters.cli_scale_from_zero += 1

    def on_poll(self, node: Node) -> None:
        """An empty long poll returned (the queue confirmed empty by a receive): the node's decisions."""
        if node.state != "ready" or node.job is not None or node.draining:
            return
        self.queue_activity()
        empty, p, now = not self.queue, self.policy, self.now
        self.set_protection(node, fleet_policy.protect_decision(False, node.protected, node.idle_since, now,
                                                                p.protect_hysteresis))
        # The nodes that serve (READY, in service, not draining): the keeper is chosen among them.
        ready = [n.id for n in self.nodes if n.state == "ready" and n.in_service_at <= now and not n.draining]
        keeper = fleet_policy.keeper_of(ready) == node.id
        if fleet_policy.idle_decision(node.idle_since, now, p.idle_seconds, empty, self.desired, p.min_size,
                                      p.surplus_idle_seconds, keeper):
            self.desired -= 1  # TerminateInstanceInAutoScalingGroup, ShouldDecrementDesiredCapacity
            self.counters.idle_terminations += 1
            self.gone_soon(node, "idle")
            return
        self.at(self.now + self.policy.poll_seconds, "poll", node)

    def on_gone(self, node: Node, reason: str | None = None) -> None:
        if node.state == "gone":
            return
        if node.job is not None:  # never expected: every path releases or finishes the job first
            self.counters.jobs_lost += 1
            node.job = None
        node.state, node.end = "gone", self.now
        if reason:
            node.end_reason = reason
