"""The termination hook as a fleet node reads and keeps it (aws.py AutoScaling, fleet.py Fleet): how long the
instance may wait in all (the hook's global timeout), and what a failed heartbeat leaves the running job.
End to end, with real workers and the emulator's hook: test/integration/fleet-breaker.test.ts."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

from botocore.exceptions import ClientError
from conftest import wait_for

from fluxer_runtime.autoscaling import AutoScaling, Hook
from fluxer_runtime.fleet import HOOK_MARGIN_SECONDS, Fleet

TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"


class FakeAsg:
    def __init__(self, hooks: list[dict[str, Any]] | None = None, heartbeat_error: bool = False) -> None:
        self.hooks = hooks or []
        self.heartbeat_error = heartbeat_error
        self.heartbeats = 0

    def describe_lifecycle_hooks(self, **_: Any) -> dict[str, Any]:
        return {"LifecycleHooks": self.hooks}

    def record_lifecycle_action_heartbeat(self, **_: Any) -> None:
        self.heartbeats += 1
        if self.heartbeat_error:
            error = {"Error": {"Code": "AccessDenied", "Message": "no"}}
            raise ClientError(error, "RecordLifecycleActionHeartbeat")  # type: ignore[arg-type]


def hook_of(**fields: Any) -> Hook | None:
    hook = {"LifecycleHookName": "drain", "LifecycleTransition": TERMINATING, **fields}
    return AutoScaling(FakeAsg([hook]), "g").terminating_hook()


def test_the_wait_is_bounded_by_the_hooks_global_timeout():
    assert hook_of(HeartbeatTimeout=300, GlobalTimeout=30000) == Hook("drain", 300.0, 30000.0)
    # Not answered: AWS's own bound, 100 heartbeat timeouts or 48 h, whichever is smaller.
    assert hook_of(HeartbeatTimeout=300) == Hook("drain", 300.0, 30000.0)
    assert hook_of(HeartbeatTimeout=7200) == Hook("drain", 7200.0, 172800.0)
    # An answer past that bound (moto's 172800 for every hook) is not believed.
    assert hook_of(HeartbeatTimeout=30, GlobalTimeout=172800) == Hook("drain", 30.0, 3000.0)
    launching = {"LifecycleHookName": "x", "LifecycleTransition": "autoscaling:EC2_INSTANCE_LAUNCHING"}
    assert AutoScaling(FakeAsg([launching]), "g").terminating_hook() is None


class HookOnly(Fleet):
    """The attributes of Worker that the hook's heartbeat uses, and nothing else."""

    def __init__(self, asg: FakeAsg, hook: Hook, deadline: float) -> None:
        self.asg = AutoScaling(asg, "g")
        self.node = SimpleNamespace(instance_id="i-0123456789abcdef0")
        self._hook = hook
        self._closed = threading.Event()
        self._cond = threading.Condition()
        self._deadline = deadline


def test_a_failed_heartbeat_leaves_the_job_only_what_the_last_one_allows():
    asg = FakeAsg(heartbeat_error=True)
    now = time.monotonic()
    node = HookOnly(asg, Hook("drain", 3.0, 300.0), deadline=now + 285.0)
    thread = threading.Thread(target=node._hook_heartbeat, args=(now,), daemon=True)
    thread.start()
    try:
        wait_for(lambda: node._deadline < now + 285.0, 10, what="the deadline tightened")
        # The hook's timeout ends 3 s after the wait began (no heartbeat worked): less the margin, past.
        assert node._deadline == now + 3.0 - HOOK_MARGIN_SECONDS
        assert asg.heartbeats >= 1
    finally:
        node._closed.set()
        thread.join(5)


def test_heartbeats_that_work_leave_the_deadline_alone():
    asg = FakeAsg()
    now = time.monotonic()
    node = HookOnly(asg, Hook("drain", 3.0, 300.0), deadline=now + 285.0)
    thread = threading.Thread(target=node._hook_heartbeat, args=(now,), daemon=True)
    thread.start()
    try:
        wait_for(lambda: asg.heartbeats >= 2, 10, what="two heartbeats")  # one a second (a third of 3 s)
        assert node._deadline == now + 285.0
    finally:
        node._closed.set()
        thread.join(5)
