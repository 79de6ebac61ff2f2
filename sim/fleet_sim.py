"""The replayed day: a fleet policy priced against a committed trace, and two always-on baselines.

    python sim/fleet_sim.py --trace sim/traces/day-1.json --seed 1 [--json]

A discrete-event simulation (no clock, no AWS) of one Auto Scaling group over the trace's day: AWS's
side (target tracking on backlog per instance, the scale-from-zero alarm, Capacity Rebalancing, spot
interruptions, per-second billing) is modelled here; the nodes' and the CLI's side calls the decision
code they run (`fluxer_runtime.fleet_policy`, and the CLI's scale-from-zero rule mirrored below).
Everything that varies is drawn from `--seed`: the same trace and seed give the same figures.
What is modelled and what is assumed: docs/fleet.md, "The replayed day".
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import json
import math
import random
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

# The decisions are this checkout's (the runtime next door), whatever fluxer_runtime is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gpu-runtime"))
from fluxer_runtime import fleet_policy

import bounds as trace_bounds  # sim/bounds.py: what no policy beats on this trace

NOTICE_SECONDS = 120  # a spot interruption notice comes two minutes before the instance goes
FREE_FIRST_HOUR = 3600  # AWS does not charge a spot node it interrupts within its first hour
MIN_BILLED = 60  # Linux: per second, 60 s minimum per start
MONTH_SECONDS = 730 * 3600  # EBS is priced per GB-month


def scale_from_zero_decision(desired: int, minimum: int, maximum: int, queued: int,
                             launch_suspended: bool = False, breaker: bool = False) -> int | None:
    """The CLI's rule, mirrored from `scaleFromZeroDecision` in src/core/fleet/zero.ts: at 0 with work
    queued, Launch not suspended and no breaker, raise the desired capacity to max(1, min) within max;
    else no call. Both are checked against one table, test/contracts/scale-from-zero.json."""
    if desired > 0 or queued <= 0 or launch_suspended or breaker:
        return None
    to = max(1, minimum)
    return to if to <= maximum else None


@dataclass(frozen=True)
class Policy:
    """The fleet's settings (fluxer's defaults) and the AWS behaviour the simulation assumes."""

    instance_types: tuple[str, ...] = ("g6e.xlarge", "g5.xlarge")
    market: str = "spot"  # or "on-demand"
    min_size: int = 0
    max_size: int = 4  # DEFAULT_MAX_SIZE, src/core/fleet/names.ts
    jobs_per_node: float = 2  # the target-tracking target, DEFAULT_JOBS_PER_NODE
    initial_nodes: int = 0  # nodes up and READY at midnight (the always-on baselines)
    cli_scale_from_zero: bool = True
    alarm_backstop: bool = True
    idle_seconds: float = 600  # issue 17: the idle time, default 10 minutes
    surplus_idle_seconds: float = 120  # FLUXER_SURPLUS_IDLE_SECONDS: a surplus node, not the keeper
    protect_hysteresis: float = 60
    poll_seconds: float = 20  # FLUXER_WAIT_SECONDS: an empty long poll returns this often
    notice_margin: float = 15  # FLUXER_NOTICE_MARGIN_SECONDS
    release_delay: float = 2  # spot notice -> message receivable elsewhere (docs/runtime.md, measured)
    rebalance_seconds: float = 600  # FLUXER_REBALANCE_SECONDS: a drained node resumes when no notice came
    upload_seconds: float = 0.5  # per job, after its images
    in_service_after: float = 20  # pending -> InService (EC2 running, EC2 health checks)
    launch_hook: bool = False  # a launch lifecycle hook completed at READY: InService only then
    terminate_seconds: float = 5  # lifecycle action completed -> shutting-down (billing stops)
    metric_period: float = 60  # SQS metrics reach CloudWatch once a minute...
    metric_delay: float = 60  # ...about a minute after the minute they describe
    tt_datapoints: int = 3  # target tracking's scale-out alarm: 3 of 3 one-minute datapoints
    alarm_datapoints: int = 1  # the scale-from-zero alarm: visible >= 1 for one minute
    queue_inactive_after: float = 6 * 3600  # after six idle hours SQS metrics may take...
    metrics_resume_after: float = 900  # ...up to 15 minutes to resume (the worst case is taken)
    volume_gib: int = 100  # volumeSize, src/config/schema.ts
    jitter: float = 0.1  # boot times vary by +-10 %, image times by +-5 %, drawn from the seed
    tail_seconds: float = 6 * 3600  # after the day, nodes still up are billed this long at most


@dataclass
class Job:
    id: str
    at: float
    images: int
    client: str
    done: int = 0  # images made (a job handed back resumes from the first missing one)
    cold: bool = False  # no node was up to take it when it arrived
    started: float | None = None
    finished: float | None = None
    handed_back: int = 0


@dataclass
class Node:
    id: str
    itype: str
    zone: str
    market: str
    launched: float
    in_service_at: float
    ready_at: float
    state: str = "booting"  # booting -> ready -> terminating -> gone
    draining: bool = False
    warm: bool = False  # its first image paid for the CUDA context and first-call kernels
    protected: bool = False
    idle_since: float | None = None
    job: Job | None = None
    job_started: float = 0.0
    job_end: float = 0.0
    job_token: int = 0
    per_image: float = 0.0
    replaced_by: str | None = None
    replaces: str | None = None
    hook: bool = False  # in Terminating:Wait: finishes its job, then completes the lifecycle action
    terminate_at: float | None = None  # the spot notice's time
    end: float | None = None
    end_reason: str = ""

    @property
    def pool(self) -> str:
        return f"{self.itype}/{self.zone}"

    @property
    def live(self) -> bool:
        return self.state in ("booting", "ready")


@dataclass
class Counters:
    cli_scale_from_zero: int = 0
    alarm_scale_from_zero: int = 0
    target_tracking_scale_outs: int = 0
    idle_terminations: int = 0
    protection_calls: int = 0
    launches: int = 0
    launch_failures: int = 0
    rebalance_recommendations: int = 0
    replacements: int = 0
    notices: int = 0
    jobs_finished_in_notice: int = 0
    jobs_handed_back: int = 0
    jobs_lost: int = 0
    events_hitting_nodes: int = 0
    breaker_trips: int = 0


@dataclass
class Sim:
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

    # --- the event queue -------------------------------------------------------------------------
    def at(self, t: float, kind: str, *args) -> None:
        heapq.heappush(self.events, (t, next(self.seq), kind, args))

    # --- AWS: launching -------------------------------------------------------------------------
    def price(self, pool: str, t: float) -> float:
        series = self.trace["spotPrices"][pool]
        price = series[0][1]
        for at, p in series:
            if at > t:
                break
            price = p
        return price

    def choose_pool(self) -> tuple[str, str] | None:
        """Auto Scaling balances the zones first (the zones with the fewest nodes), then
        price-capacity-optimized picks a pool among them: modelled as the cheapest pool that has
        capacity (not just reclaimed), zone then type order on a tie. On-demand: the first type."""
        zones = sorted({p.split("/")[1] for p in self.trace["spotPrices"]})
        live = [n for n in self.nodes if n.live and n.replaced_by is None]
        by_count: dict[int, list[str]] = {}
        for zone in zones:
            by_count.setdefault(sum(n.zone == zone for n in live), []).append(zone)
        for count in sorted(by_count):
            if self.policy.market == "on-demand":
                return self.policy.instance_types[0], by_count[count][0]
            pools = [(self.price(f"{t}/{z}", self.now), zi, ti, t, z) for zi, z in enumerate(by_count[count])
                     for ti, t in enumerate(self.policy.instance_types)
                     if self.unavailable.get(f"{t}/{z}", -math.inf) <= self.now]
            if pools:
                best = min(pools)
                return best[3], best[4]
        return None

    def launch(self, replaces: Node | None = None, ready_now: bool = False) -> Node | None:
        choice = self.choose_pool()
        if choice is None:
            self.counters.launch_failures += 1
            return None
        itype, zone = choice
        boot = self.trace["types"][itype]["boot"]
        j = 1 + self.rng.uniform(-self.policy.jitter, self.policy.jitter)
        to_ready = 0.0 if ready_now else (boot["launch"] + boot["install"] + boot["pull"] + boot["load"]) * j
        to_service = to_ready if self.policy.launch_hook else min(to_ready, self.policy.in_service_after)
        node = Node(id=f"i-{len(self.nodes) + 1:03d}", itype=itype, zone=zone, market=self.policy.market,
                    launched=self.now, in_service_at=self.now + to_service, ready_at=self.now + to_ready,
                    warm=ready_now)
        self.nodes.append(node)
        self.counters.launches += 1
        if replaces is not None:
            node.replaces, replaces.replaced_by = replaces.id, node.id
            self.counters.replacements += 1
        self.at(node.in_service_at, "in_service", node)
        self.at(node.ready_at, "ready", node)
        return node

    def reconcile(self) -> None:
        """Auto Scaling keeps the group at its desired capacity (a node that has a replacement is not
        counted; a terminating one is gone from the count)."""
        if self.retry_pending:
            return
        counted = [n for n in self.nodes if n.live and n.replaced_by is None]
        for _ in range(self.desired - len(counted)):
            if self.launch() is None:
                self.retry_pending = True  # Auto Scaling tries again a little later
                self.at(self.now + 60, "retry")
                break

    # --- the queue and the nodes ----------------------------------------------------------------
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

    # --- events ---------------------------------------------------------------------------------
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

    def on_rebalance(self, event: dict) -> None:
        self.unavailable[event["pool"]] = event["at"] + event["unavailableFor"]
        hit = [n for n in self.nodes if n.live and n.pool == event["pool"] and n.market == "spot"]
        if hit:
            self.hit_events.add(id(event))
        for node in hit:
            self.counters.rebalance_recommendations += 1
            node.draining = True  # the runtime takes nothing new; its running job finishes
            if node.replaced_by is None and self.launch(replaces=node) is None:
                self.at(self.now + self.policy.rebalance_seconds, "resume", node)

    def on_notice(self, event: dict) -> None:
        hit = [n for n in self.nodes if n.state in ("booting", "ready") and n.pool == event["pool"]
               and n.market == "spot"]
        hit += [n for n in self.nodes if n.state == "terminating" and n.pool == event["pool"] and n.hook]
        if hit:
            self.hit_events.add(id(event))
        for node in hit:
            self.counters.notices += 1
            node.draining, node.terminate_at = True, self.now + NOTICE_SECONDS
            if node.job is not None:
                if node.job_end + self.policy.notice_margin <= node.terminate_at:
                    self.counters.jobs_finished_in_notice += 1
                else:
                    self.hand_back(node)
            self.at(node.terminate_at, "reclaimed", node)

    def on_in_service(self, node: Node) -> None:
        """Capacity Rebalancing: once the replacement is InService, Auto Scaling terminates the node
        it replaces, through the termination lifecycle hook (the node finishes its job first)."""
        old = next((n for n in self.nodes if n.id == node.replaces), None)
        if node.live and old is not None and old.live:
            old.hook, old.draining = True, True
            if old.job is None:
                self.gone_soon(old, "rebalanced")
            else:
                old.state, old.end_reason = "terminating", "rebalanced"

    def on_gone(self, node: Node, reason: str | None = None) -> None:
        if node.state == "gone":
            return
        if node.job is not None:  # never expected: every path releases or finishes the job first
            self.counters.jobs_lost += 1
            node.job = None
        node.state, node.end = "gone", self.now
        if reason:
            node.end_reason = reason

    def on_metric(self) -> None:
        p = self.policy
        visible = len(self.queue)
        in_flight = sum(n.job is not None for n in self.nodes)
        in_service = sum(n.state in ("ready", "booting") and n.in_service_at <= self.now for n in self.nodes)
        if self.now >= self.metrics_resume_at and self.now - self.queue_last_active < p.queue_inactive_after:
            self.datapoints.append((self.now, visible, in_flight, in_service))
        seen = [d for d in self.datapoints if d[0] + p.metric_delay <= self.now]
        # Target tracking (scale-out only: DisableScaleIn): backlog per instance above the target for
        # tt_datapoints minutes -> capacity = ceil(backlog / target), never above max.
        last = seen[-p.tt_datapoints:]
        above = [d[3] > 0 and (d[1] + d[2]) / d[3] > p.jobs_per_node for d in last]
        if len(last) == p.tt_datapoints and all(above):
            want = min(p.max_size, math.ceil((last[-1][1] + last[-1][2]) / p.jobs_per_node))
            if want > self.desired:
                self.desired = want
                self.counters.target_tracking_scale_outs += 1
        # The scale-from-zero alarm (for jobs other clients send): messages visible at desired 0.
        last = seen[-p.alarm_datapoints:]
        if p.alarm_backstop and len(last) == p.alarm_datapoints and all(d[1] >= 1 for d in last):
            to = scale_from_zero_decision(self.desired, p.min_size, p.max_size, last[-1][1])
            if to is not None:
                self.desired = to
                self.counters.alarm_scale_from_zero += 1
        self.datapoints = self.datapoints[-max(p.tt_datapoints, p.alarm_datapoints) - 5:]

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
            elif kind == "resume":
                node = args[0]
                if node.live and node.terminate_at is None and node.replaced_by is None:
                    node.draining = False
                    self.at(t, "poll", node)
            self.reconcile()
            self.dispatch()
            if self.settled():
                break
        self.counters.events_hitting_nodes = len(self.hit_events)
        self.end = max(self.now, self.trace["duration"])
        for node in self.nodes:
            if node.end is None:
                node.end, node.end_reason = self.end, "end"

    # --- figures --------------------------------------------------------------------------------
    def node_cost(self, node: Node) -> tuple[float, float, float, float]:
        """(compute, waived, volume, billed seconds) of one node: per second, 60 s minimum, the spot
        price in force each second; nothing for compute when AWS interrupted it in its first hour."""
        assert node.end is not None
        end = max(node.end, node.launched + MIN_BILLED)
        if node.market == "on-demand":
            compute = self.trace["types"][node.itype]["onDemand"] * (end - node.launched) / 3600
        else:
            series = self.trace["spotPrices"][node.pool]
            marks = [node.launched] + [at for at, _ in series if node.launched < at < end] + [end]
            compute = sum(self.price(node.pool, a) * (b - a) for a, b in itertools.pairwise(marks)) / 3600
        waived = 0.0
        if node.end_reason == "interrupted" and node.end - node.launched < FREE_FIRST_HOUR:
            compute, waived = 0.0, compute
        volume = self.policy.volume_gib * self.trace["gp3PerGbMonth"] * (end - node.launched) / MONTH_SECONDS
        return compute, waived, volume, end - node.launched

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


def replay(trace: dict, seed: int, policy: Policy | None = None) -> dict:
    """The fleet and, for each type, one always-on on-demand node and one always-on spot node."""
    policy = policy or Policy()
    fleet = simulate(trace, policy, seed)
    baselines: dict[str, dict[str, dict]] = {"on-demand": {}, "spot": {}}
    for market in baselines:
        for itype in policy.instance_types:
            always_on = replace(policy, instance_types=(itype,), market=market, min_size=1, max_size=1,
                                initial_nodes=1)
            baselines[market][itype] = simulate(trace, always_on, seed)
    # The reference is the cheapest always-on on-demand node per image: the hardest one to beat.
    ref_type = min(baselines["on-demand"], key=lambda t: baselines["on-demand"][t]["costPerImage"])
    ref = baselines["on-demand"][ref_type]["costPerImage"]
    ratio = fleet["costPerImage"] / ref
    warm_p95 = fleet["wait"]["warm"]["p95"]
    floors = trace_bounds.bounds(trace, policy.idle_seconds, 60, ref)
    for f in floors["costFloor"]:  # also against an always-on on-demand node of its own type
        own = baselines["on-demand"].get(f["type"])
        if own:
            f["vsOwnOnDemand"] = r(f["costPerImage"] / own["costPerImage"], 4)
    return {
        "trace": trace["name"],
        "seed": seed,
        "interruptionEvents": len(trace["interruptions"]),
        "policy": asdict(policy),
        "fleet": fleet,
        "baselines": baselines,
        "reference": {"market": "on-demand", "type": ref_type, "costPerImage": ref},
        "costVsOnDemand": r(ratio, 4),
        "bounds": floors,
        "target": {"costVsOnDemandMax": 0.25, "warmP95MaxSeconds": 60,
                   "met": ratio <= 0.25 and warm_p95 is not None and warm_p95 <= 60
                   and fleet["jobsLost"] == 0},
    }


def brief(s: dict) -> str:
    w, c = s["wait"]["warm"], s["wait"]["cold"]
    return (f"${s['cost']['total']:.2f}  ${s['costPerImage']:.5f}/image  {s['nodeHours']:.2f} node-h  "
            f"wait p50/p95 {w['p50']}/{w['p95']} s  cold {c['jobs']} (p95 {c['p95']} s)")


def report(result: dict) -> str:
    f = result["fleet"]
    k, cost = f["counters"], f["cost"]
    w, c = f["wait"]["warm"], f["wait"]["cold"]
    cli, other = f["wait"]["coldByClient"]["cli"], f["wait"]["coldByClient"]["other"]
    hours = ", ".join(f"{t} {h:.2f}" for t, h in f["nodeHoursByType"].items())
    ref = result["reference"]
    verdict = "met" if result["target"]["met"] else "NOT met"
    lines = [
        f"replayed day: {result['trace']} (seed {result['seed']}): {f['jobs']} jobs, {f['images']} images",
        "",
        "fleet (spot, min 0, target tracking on backlog per instance, idle nodes leave):",
        f"  cost            ${cost['total']:.2f} (compute ${cost['compute']:.2f}, "
        f"volumes ${cost['volume']:.2f}; "
        f"${cost['waivedFirstHour']:.2f} not charged: interrupted in the first hour)",
        f"  cost per image  ${f['costPerImage']:.5f}",
        f"  node-hours      {f['nodeHours']:.2f} ({hours}); {k['launches']} launches",
        f"  queue wait      p50 {w['p50']} s, p95 {w['p95']} s, max {w['max']} s "
        f"({w['jobs']} jobs that arrived with a node up)",
        f"  cold starts     {c['jobs']} jobs: p50 {c['p50']} s, p95 {c['p95']} s, max {c['max']} s",
        f"                  sent by the CLI {cli['jobs']} (p50 {cli['p50']} s, max {cli['max']} s); "
        f"by other clients {other['jobs']} (p50 {other['p50']} s, max {other['max']} s)",
        f"  scaling         from zero: {k['cli_scale_from_zero']} by the CLI, "
        f"{k['alarm_scale_from_zero']} by the alarm; "
        f"{k['target_tracking_scale_outs']} target-tracking scale-outs;",
        f"                  {k['idle_terminations']} idle terminations; "
        f"{k['protection_calls']} protection calls",
        f"  interruptions   {k['events_hitting_nodes']} of the trace's {result['interruptionEvents']} "
        f"reclaims hit nodes: {k['rebalance_recommendations']} rebalance recommendations, "
        f"{k['replacements']} replacements,",
        f"                  {k['notices']} notices, {k['jobs_finished_in_notice']} jobs finished in the "
        f"notice, {k['jobs_handed_back']} handed back; jobs lost {f['jobsLost']}",
        "",
        "always-on baselines (one node, all day):",
    ]
    for market, by_type in result["baselines"].items():
        for itype, s in by_type.items():
            lines.append(f"  {market:9} {itype:11} {brief(s)}")
    lines += [
        "",
        f"fleet vs always-on on-demand {ref['type']} (the cheapest per image): "
        f"{result['costVsOnDemand'] * 100:.1f} % of its cost per image; warm p95 {w['p95']} s",
        f"target (<= 25 %, warm p95 <= 60 s, no job lost): {verdict}",
        "",
        trace_bounds.report(result["bounds"]),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Replay a day of jobs against the fleet policy.")
    parser.add_argument("--trace", type=Path, default=Path(__file__).parent / "traces" / "day-1.json")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--types", help="comma-separated instance types (default: g6e.xlarge,g5.xlarge)")
    parser.add_argument("--max", type=int, help="the group's maximum size (default 4)")
    parser.add_argument("--jobs-per-node", type=float, help="the target-tracking target (default 2)")
    parser.add_argument("--idle", type=float, help="FLUXER_IDLE_SECONDS (default 600)")
    parser.add_argument("--surplus-idle", type=float, help="FLUXER_SURPLUS_IDLE_SECONDS (default 120)")
    parser.add_argument("--json", action="store_true", help="the whole result as one JSON document")
    args = parser.parse_args(argv)
    try:
        trace = json.loads(args.trace.read_text())
    except (OSError, ValueError) as exc:
        print(f"fleet_sim: cannot read the trace {args.trace}: {exc}", file=sys.stderr)
        return 2
    policy = Policy()
    if args.types:
        types = tuple(t.strip() for t in args.types.split(",") if t.strip())
        unknown = [t for t in types if t not in trace["types"]]
        if unknown:
            print(f"fleet_sim: --types: {', '.join(unknown)} not in the trace (it has "
                  f"{', '.join(trace['types'])})", file=sys.stderr)
            return 2
        policy = replace(policy, instance_types=types)
    if args.max is not None:
        policy = replace(policy, max_size=args.max)
    if args.jobs_per_node is not None:
        policy = replace(policy, jobs_per_node=args.jobs_per_node)
    for flag, value, name in (("--idle", args.idle, "idle_seconds"),
                              ("--surplus-idle", args.surplus_idle, "surplus_idle_seconds")):
        if value is not None and not value >= 1:
            print(f"fleet_sim: {flag} {value:g}: must be at least 1 second", file=sys.stderr)
            return 2
        if value is not None:
            policy = replace(policy, **{name: value})
    result = replay(trace, args.seed, policy)
    print(json.dumps(result, indent=2) if args.json else report(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
