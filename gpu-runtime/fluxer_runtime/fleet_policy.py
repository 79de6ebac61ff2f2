"""The node protocol's decisions, as pure functions: no I/O, no clock (time is passed in).

The runtime (fleet.py) calls them on its fleet thread; the simulator (branch fleet-sim) imports
exactly these, so a replayed day runs the same rules as the nodes. Their signatures and
meaning are a contract: change them only together with the simulator.

Times are seconds on one clock chosen by the caller (the runtime passes time.monotonic() for
protection and idleness, epoch seconds for boot failures, which come from other nodes' records).

protect_decision(holding_job, protected, idle_since, now, hysteresis) -> bool | None
    What to do about this node's scale-in protection. True: set it (SetInstanceProtection
    ProtectedFromScaleIn=true); False: lift it; None: no call. A node holding a job (running, or a
    message prefetched into its slot) is protected at once. A node with no job lifts its protection
    only once it has been idle `hysteresis` seconds (idle_since: when it last let go of a job; None:
    not idle), so a stream of short jobs costs one call, not two per job. `protected` is what the
    node last set (False at boot: a new instance is unprotected unless the group says otherwise).

idle_decision(idle_since, now, idle_seconds, queue_confirmed_empty, desired, minimum,
              surplus_idle_seconds=None, keeper=True) -> bool
    Whether this node should leave the fleet now (TerminateInstanceInAutoScalingGroup with
    ShouldDecrementDesiredCapacity=true on itself). All of: idle (no job) long enough; the queue
    confirmed empty by a ReceiveMessage that returned nothing, not by the approximate counters; and
    the group's desired capacity above its minimum (leaving never takes the group below min).
    False when idle_since is None. Long enough is `idle_seconds` for the node that would take the
    fleet to zero (or to its minimum): a cold start costs the next user minutes. A surplus node
    (desired > max(1, minimum)) that is not the group's keeper leaves after
    `surplus_idle_seconds` (None: the same idle time): a burst's extra nodes cost money, not
    waiting, once the burst is served. The keeper (`keeper_of`) always waits the full idle time, so
    surplus nodes idle at once never take the fleet to zero early between them.

keeper_of(ready_ids) -> str | None
    The node every node agrees stays the full idle time: the lowest instance id among the group's
    InService instances that serve (READY or BUSY in their node records; the deciding node is one).
    A node still booting is never the keeper, so the last serving node never leaves early for it.

breaker_decision(failed_boot_times, now, window, limit) -> bool
    Whether a node whose boot failed (FAILED before READY) should stop the fleet (desired and min
    to 0) rather than be replaced by yet another failing boot: true when at least `limit` of the
    group's failed boots (`failed_boot_times`, this one included) happened within the last
    `window` seconds (t >= now - window; a time ahead of `now`, another node's clock skew, counts
    as recent). limit <= 0 turns the breaker off.
"""

from __future__ import annotations

from collections.abc import Iterable


def protect_decision(holding_job: bool, protected: bool, idle_since: float | None, now: float,
                     hysteresis: float) -> bool | None:
    if holding_job:
        return None if protected else True
    if not protected or idle_since is None:
        return None
    return False if now - idle_since >= hysteresis else None


def idle_decision(idle_since: float | None, now: float, idle_seconds: float, queue_confirmed_empty: bool,
                  desired: int, minimum: int, surplus_idle_seconds: float | None = None,
                  keeper: bool = True) -> bool:
    if idle_since is None or not queue_confirmed_empty or desired <= minimum:
        return False
    wait = idle_seconds
    if surplus_idle_seconds is not None and not keeper and desired > max(1, minimum):
        wait = min(idle_seconds, surplus_idle_seconds)
    return now - idle_since >= wait


def keeper_of(ready_ids: Iterable[str]) -> str | None:
    return min(ready_ids, default=None)


def breaker_decision(failed_boot_times: Iterable[float], now: float, window: float, limit: int) -> bool:
    if limit <= 0:
        return False
    recent = sum(1 for t in failed_boot_times if t >= now - window)
    return recent >= limit
