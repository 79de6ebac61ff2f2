"""The replayed day's event loop: one Auto Scaling group over a trace, AWS's side (aws_side.py) and the
nodes' (node_side.py) driven by one event queue; the per-run figures. No clock, no AWS: the same trace
and seed give the same figures."""

from __future__ import annotations

import heapq
import itertools
import math
import random
from dataclasses import asdict, dataclass, field

from aws_side import AwsSide
from model import Counters, Job, Node, Policy
from node_side import NodeSide


@dataclass
class Sim(AwsSide, NodeSide):
    trace: dict
    policy: Policy
    rng: random.Random
    now: float = 0.0
    desired: int = 0
    nodes: list[Node] = field(default_factory=list)
    queue: list[Job] = field(default_factory=list)
    jobs: list[Job] = field(default_factory=list)
    counters: Counters = field(default_factory=Counters)
    unavailable: dict[str, float] = field(default_factory=dict)  # pool -> no spare capacity until
    # CloudWatch datapoints: (minute, visible, in flight, in service)
    datapoints: list[tuple[float, int, int, int]] = field(default_factory=list)
    queue_last_active: float = 0.0
    metrics_resume_at: float = -math.inf
    retry_pending: bool = False
    hit_events: set[int] = field(default_factory=set)
    end: float = 0.0
    events: list = field(default_factory=list)
    seq: itertools.count = field(default_factory=itertools.count)


    def at(self, t: float, kind: str, *args) -> None:
        heapq.heappush(self.events, (t, next(self.seq), kind, args))

    def settled(self) -> bool:
        if self.now < self.trace["duration"] or self.queue or any(n.job for n in self.nodes):
            return False
        return self.policy.min_size > 0 or all(n.state == "gone" for n in self.nodes)

    def run(self) -> None:
        self.queue_last_active = self.trace.get("queueLastActive", 0)
        for job in self.jobs:
            self.at(job.at, "arrival", job)
        for ev in self.trace["interruptions"] if self.policy.market == "spot" else []:
            self.at(ev["at"] - ev["rebalanceLead"], "rebalance", ev)
            self.at(ev["at"], "notice", ev)
        self.desired = max(self.policy.min_size, self.policy.initial_nodes)
        for _ in range(self.policy.initial_nodes):
            self.launch(ready_now=True)
        self.at(self.policy.metric_period, "metric")
        while self.events:
            t, _, kind, args = heapq.heappop(self.events)
            if t > self.trace["duration"] + self.policy.tail_seconds:
                break  # a policy whose nodes never leave: bill them to the cap, not forever
            self.now = t
            if kind == "arrival":
                self.on_arrival(*args)
            elif kind == "metric":
                self.on_metric()
                if not self.settled():
                    self.at(t + self.policy.metric_period, "metric")
            elif kind == "ready":
                node = args[0]
                if node.live:
                    node.state, node.idle_since = "ready", t
                    self.at(t + self.policy.poll_seconds, "poll", node)
            elif kind == "in_service":
                self.on_in_service(*args)
            elif kind == "job_done":
                node, token = args
                if node.job is not None and token == node.job_token:
                    self.finish(node)
            elif kind == "poll":
                self.on_poll(*args)
            elif kind == "released":
                self.queue.insert(0, args[0])  # visible again at once, the oldest message
            elif kind == "rebalance":
                self.on_rebalance(*args)
            elif kind == "notice":
                self.on_notice(*args)
            elif kind == "reclaimed":
                self.on_gone(args[0], "interrupted")
            elif kind == "gone":
                self.on_gone(*args)
            elif kind == "retry":
                self.retry_pending = False
            self.reconcile()
            self.dispatch()
            if self.settled():
                break
        self.counters.events_hitting_nodes = len(self.hit_events)
        self.end = max(self.now, self.trace["duration"])
        for node in self.nodes:
            if node.end is None:
                node.end, node.end_reason = self.end, "end"

    def summary(self) -> dict:
        compute = waived = volume = seconds = 0.0
        by_type: dict[str, float] = {}
        for node in self.nodes:
            c, w, v, s = self.node_cost(node)
            compute, waived, volume, seconds = compute + c, waived + w, volume + v, seconds + s
            by_type[node.itype] = by_type.get(node.itype, 0.0) + s / 3600
        images = sum(j.images for j in self.jobs if j.finished is not None)
        unfinished = sum(j.finished is None for j in self.jobs)
        warm = [j.started - j.at for j in self.jobs if j.started is not None and not j.cold]
        cold = [j.started - j.at for j in self.jobs if j.started is not None and j.cold]
        total = compute + volume
        return {
            "jobs": len(self.jobs),
            "images": images,
            "jobsLost": self.counters.jobs_lost + unfinished,
            "cost": {"compute": r(compute), "volume": r(volume), "waivedFirstHour": r(waived),
                     "total": r(total)},
            "costPerImage": r(total / images, 6) if images else None,
            "nodeHours": r(seconds / 3600, 3),
            "nodeHoursByType": {k: r(v, 3) for k, v in sorted(by_type.items())},
            "wait": {"warm": stats(warm), "cold": stats(cold),
                     "coldByClient": {c: stats([j.started - j.at for j in self.jobs
                                                if j.started is not None and j.cold and j.client == c])
                                      for c in ("cli", "other")}},
            "nodes": [{"id": n.id, "pool": n.pool, "launched": r(n.launched, 1), "end": r(n.end or 0, 1),
                       "reason": n.end_reason} for n in self.nodes],
            "counters": asdict(self.counters),
        }


def r(x: float, digits: int = 4) -> float:
    return round(x, digits)


def percentile(values: list[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def stats(values: list[float]) -> dict:
    if not values:
        return {"jobs": 0, "p50": None, "p95": None, "max": None}
    return {"jobs": len(values), "p50": r(percentile(values, 0.5), 1), "p95": r(percentile(values, 0.95), 1),
            "max": r(max(values), 1)}


def simulate(trace: dict, policy: Policy, seed: int) -> dict:
    sim = Sim(trace=trace, policy=policy, rng=random.Random(seed))
    sim.jobs = [Job(id=j["id"], at=j["at"], images=j["images"], client=j["client"]) for j in trace["jobs"]]
    sim.run()
    return sim.summary()

