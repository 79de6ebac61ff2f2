"""The node's fleet decisions, as pure functions of what the node knows and the time.

The runtime's loop calls them on each poll; the replayed day (`sim/fleet_sim.py`) calls the same
functions, so what the simulation prices is what the nodes do. No I/O, no clock: `now` and every
timestamp are seconds on one clock (the caller's).

This is the simulation branch's stand-in for issue 17's node protocol (items 2 to 4): the rules are the
issue's plain ones. Where the node branch's module differs, its behaviour wins.
"""

from __future__ import annotations

from collections.abc import Iterable


def protect_decision(holding_job: bool, protected: bool, idle_since: float | None, now: float,
                     hysteresis: float) -> bool | None:
    """The scale-in protection to set now, or None when the current one stands (no API call).

    On as soon as the node holds a job; off only once it has been idle for `hysteresis` seconds, so
    a stream of short jobs costs one SetInstanceProtection call, not two per job.
    """
    if holding_job:
        return None if protected else True
    if not protected or idle_since is None:
        return None
    return False if now - idle_since >= hysteresis else None


def idle_decision(idle_since: float | None, now: float, idle_seconds: float, queue_confirmed_empty: bool,
                  desired: int, minimum: int) -> bool:
    """True when the node should terminate itself with the desired capacity decremented.

    Idle for at least `idle_seconds`, the queue confirmed empty by a receive that returned nothing
    (the approximate counters lag), and the group above its minimum (a decrement never goes below it).
    """
    if idle_since is None or not queue_confirmed_empty:
        return False
    return now - idle_since >= idle_seconds and desired > minimum


def breaker_decision(failed_boot_times: Iterable[float], now: float, window: float, limit: int) -> bool:
    """True when the fleet should stop launching: `limit` or more failed boots in the last `window` s."""
    return sum(1 for t in failed_boot_times if now - window <= t <= now) >= limit
