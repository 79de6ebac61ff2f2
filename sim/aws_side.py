"""AWS's side of the replayed day: placement and launches, Auto Scaling's reconciliation, Capacity
Rebalancing, spot notices, CloudWatch's datapoints with target tracking and the scale-from-zero alarm,
and per-second billing. A part of Sim (engine.py): it uses the fields Sim declares."""

from __future__ import annotations

import itertools
import math

from make_trace import price_at
from model import FREE_FIRST_HOUR, MIN_BILLED, MONTH_SECONDS, NOTICE_SECONDS, Node, scale_from_zero_decision


class AwsSide:
    def price(self, pool: str, t: float) -> float:
        return price_at(self.trace["spotPrices"][pool], t)

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

    def on_rebalance(self, event: dict) -> None:
        self.unavailable[event["pool"]] = event["at"] + event["unavailableFor"]
        hit = [n for n in self.nodes if n.live and n.pool == event["pool"] and n.market == "spot"]
        if hit:
            self.hit_events.add(id(event))
        for node in hit:
            # A fleet node serves on (fleet.py, on_fleet_rebalance): Capacity Rebalancing launches its
            # replacement and ends it through the hook once that is InService (on_in_service). With no
            # pool to launch into, nothing ends it but the notice.
            self.counters.rebalance_recommendations += 1
            if node.replaced_by is None:
                self.launch(replaces=node)

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
        it replaces, through the termination lifecycle hook (the node, serving until then, takes
        nothing new and finishes its job first)."""
        old = next((n for n in self.nodes if n.id == node.replaces), None)
        if node.live and old is not None and old.live:
            old.hook, old.draining = True, True
            if old.job is None:
                self.gone_soon(old, "rebalanced")
            else:
                old.state, old.end_reason = "terminating", "rebalanced"

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
