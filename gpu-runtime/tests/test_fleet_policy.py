"""The node protocol's pure decisions (fleet_policy.py): each rule, the hysteresis, the breaker's
window. The simulator imports the same functions, so these are its rules too."""

from __future__ import annotations

from fluxer_runtime.fleet_policy import breaker_decision, idle_decision, keeper_of, protect_decision


def test_a_node_holding_a_job_is_protected_once():
    assert protect_decision(True, False, None, 100.0, 30) is True
    assert protect_decision(True, True, None, 100.0, 30) is None


def test_protection_is_lifted_only_after_the_hysteresis():
    assert protect_decision(False, True, 100.0, 100.0, 30) is None
    assert protect_decision(False, True, 100.0, 129.9, 30) is None
    assert protect_decision(False, True, 100.0, 130.0, 30) is False


def test_a_stream_of_short_jobs_costs_one_call():
    protected, idle_since, calls = False, None, 0
    for second in range(0, 300, 5):  # a 3 s job every 5 s
        for now, holding in ((second, True), (second + 3, False)):
            idle_since = None if holding else (idle_since if idle_since is not None else now)
            decision = protect_decision(holding, protected, idle_since, now, 30)
            if decision is not None:
                protected, calls = decision, calls + 1
        idle_since = None  # the next job comes before the hysteresis ends
    assert calls == 1 and protected


def test_an_unprotected_idle_node_makes_no_call():
    assert protect_decision(False, False, 0.0, 1000.0, 30) is None
    assert protect_decision(False, True, None, 1000.0, 30) is None


def test_idle_needs_the_time_the_empty_receive_and_room_above_min():
    assert idle_decision(0.0, 600.0, 600, True, 2, 0) is True
    assert idle_decision(0.0, 599.0, 600, True, 2, 0) is False
    assert idle_decision(0.0, 900.0, 600, False, 2, 0) is False  # counters may say empty: not enough
    assert idle_decision(0.0, 900.0, 600, True, 1, 1) is False  # never below min
    assert idle_decision(0.0, 900.0, 600, True, 1, 0) is True  # the last node goes too: to zero
    assert idle_decision(None, 900.0, 600, True, 2, 0) is False  # busy


def test_a_surplus_node_leaves_after_the_surplus_time_the_keeper_after_the_full_one():
    # desired 3, min 0: two nodes are surplus; the one that is not the keeper leaves at 120 s.
    assert idle_decision(0.0, 120.0, 600, True, 3, 0, 120, keeper=False) is True
    assert idle_decision(0.0, 119.0, 600, True, 3, 0, 120, keeper=False) is False
    assert idle_decision(0.0, 120.0, 600, True, 3, 0, 120, keeper=True) is False  # the keeper waits
    assert idle_decision(0.0, 600.0, 600, True, 3, 0, 120, keeper=True) is True
    # The last node (desired 1) is never surplus: a cold start costs the next user minutes.
    assert idle_decision(0.0, 120.0, 600, True, 1, 0, 120, keeper=False) is False
    # min 2, desired 3: one node above the minimum is surplus; at desired 2 nobody leaves at all.
    assert idle_decision(0.0, 120.0, 600, True, 3, 2, 120, keeper=False) is True
    assert idle_decision(0.0, 900.0, 600, True, 2, 2, 120, keeper=False) is False
    # A surplus time above the idle time never makes a node stay longer; None: one idle time.
    assert idle_decision(0.0, 600.0, 600, True, 3, 0, 900, keeper=False) is True
    assert idle_decision(0.0, 120.0, 600, True, 3, 0, None, keeper=False) is False
    assert idle_decision(0.0, 120.0, 600, False, 3, 0, 120, keeper=False) is False  # queue not empty


def test_every_node_names_the_same_keeper():
    ids = ["i-0bbb", "i-0aaa", "i-0ccc"]
    assert keeper_of(ids) == keeper_of(reversed(ids)) == "i-0aaa"
    assert keeper_of([]) is None


def test_breaker_counts_failed_boots_within_the_window():
    now = 10_000.0
    assert breaker_decision([now - 10, now - 20, now], now, 1800, 3) is True
    assert breaker_decision([now - 10, now], now, 1800, 3) is False
    assert breaker_decision([now - 1801, now - 20, now], now, 1800, 3) is False  # one fell out
    assert breaker_decision([now - 1800, now - 20, now], now, 1800, 3) is True  # the edge counts
    assert breaker_decision([now + 5, now - 20, now], now, 1800, 3) is True  # another node's clock, ahead
    assert breaker_decision([now] * 10, now, 1800, 0) is False  # limit 0: off
