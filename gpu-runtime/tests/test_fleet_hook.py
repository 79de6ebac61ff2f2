"""The termination hook as a fleet node reads and keeps it (aws.py AutoScaling, fleet.py Fleet): how long the
instance may wait in all (the hook's global timeout), and what a failed heartbeat leaves the running job;
and a fleet node's rebalance recommendation, which it serves through until the hook (or the spot notice)
ends it. End to end, with real workers and the emulator's hook: test/integration/fleet-breaker.test.ts."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

from botocore.exceptions import ClientError
from conftest import wait_for

from fluxer_runtime.autoscaling import AutoScaling, Hook
from fluxer_runtime.fleet import HOOK_MARGIN_SECONDS, Fleet
from fluxer_runtime.status import Node

TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"
INSTANCE = "i-0123456789abcdef0"  # the IMDS stand-in's
DRAIN_HOOK = {"LifecycleHookName": "fluxer-node-drain", "LifecycleTransition": TERMINATING,
              "HeartbeatTimeout": 300}
LONG = {"width": 512, "height": 512, "steps": 50}  # ~0.5 s an image on this CPU: time to act mid-job


class FakeAsg:
    """Auto Scaling's answers for one group, and the calls a node made on it."""

    def __init__(self, hooks: list[dict[str, Any]] | None = None, heartbeat_error: bool = False,
                 capacity_rebalance: bool = True) -> None:
        self.hooks = hooks or []
        self.heartbeat_error = heartbeat_error
        self.heartbeats = 0
        self.capacity_rebalance = capacity_rebalance
        self.completions: list[tuple[str, str, str]] = []

    def describe_auto_scaling_groups(self, **_: Any) -> dict[str, Any]:
        instances = [{"InstanceId": INSTANCE, "LifecycleState": "InService"}]
        return {"AutoScalingGroups": [{"DesiredCapacity": 1, "MinSize": 0, "MaxSize": 4,
                                       "Instances": instances, "CapacityRebalance": self.capacity_rebalance}]}

    def set_instance_protection(self, **_: Any) -> None:
        pass

    def complete_lifecycle_action(self, **call: Any) -> None:
        self.completions.append((call["LifecycleHookName"], call["InstanceId"],
                                 call["LifecycleActionResult"]))

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
        self.node = SimpleNamespace(instance_id=INSTANCE)
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


# ----- a rebalance recommendation on a fleet node: serve on, the hook ends it ------------------------


def fleet_node(start_worker: Any, imds: Any, asg: FakeAsg, **env: Any) -> Any:
    return start_worker(node=Node(INSTANCE, "g5.xlarge", "us-east-1b"), asg=AutoScaling(asg, "fluxer-fleet"),
                        FLUXER_IMDS_URL=imds.url, FLUXER_IMDS_POLL_SECONDS=0.2, **env)


def fleet_note(stack: Any) -> dict[str, Any]:
    """The node record's `fleet` object, as written now."""
    return dict((stack.node_versions(INSTANCE) or [("", {})])[-1][1].get("fleet") or {})


def test_a_fleet_node_serves_on_after_a_rebalance_recommendation_until_its_hook_ends_it(
        stack, start_worker, imds, gate, tmp_path):
    asg, off = FakeAsg([DRAIN_HOOK]), tmp_path / "powered-off"
    # The standalone bound, as short as it goes and set to halt: a fleet node has nothing for it to bound.
    handle = fleet_node(start_worker, imds, asg, FLUXER_REBALANCE_SECONDS=0.1,
                        FLUXER_REBALANCE_ACTION="poweroff", FLUXER_POWEROFF_COMMAND=f"touch {off}")
    imds.recommend_rebalance()
    note = wait_for(lambda: fleet_note(stack).get("rebalance"), 10, what="the recommendation in the record")
    assert note["capacityRebalance"] is True and "noticedAt" in note
    # Still serving: a new job is taken and done (it used to be refused for FLUXER_REBALANCE_SECONDS).
    first = stack.job()
    stack.send(first)
    assert stack.wait_state(first["id"], "succeeded")["attempt"] == 1
    assert handle.get()["state"] in ("READY", "BUSY") and not off.exists()
    # The replacement is InService: Auto Scaling terminates this node through the hook, mid-job.
    gate.hold_before_image(1)
    second = stack.job(count=2, **LONG)
    stack.send(second)
    assert gate.reached.wait(30)
    imds.terminate_in_group()  # the recommendation stands in IMDS too: it must not hide this
    wait_for(lambda: handle.worker.state == "DRAINING", 10, what="the hook seen")
    gate.open()
    # The job finishes on this node, once; then the node completes the lifecycle action and stops.
    done = stack.wait_state(second["id"], "succeeded", timeout=30)
    assert done["attempt"] == 1 and len(done["outputs"]) == 2
    wait_for(lambda: handle.result == [0], 15, what="the worker stopped")
    assert asg.completions == [("fluxer-node-drain", INSTANCE, "CONTINUE")]
    wait_for(lambda: stack.counts() == (0, 0), 5, what="no message left to redo")
    record = stack.node_versions(INSTANCE)[-1][1]
    assert record["state"] == "STOPPED"
    assert record["jobs"]["succeeded"] == 2 and record["jobs"]["requeued"] == 0
    assert record["fleet"]["terminating"] is True and record["fleet"]["rebalance"] == note
    assert not off.exists()


def test_without_capacity_rebalancing_a_fleet_node_serves_on_until_the_spot_notice(stack, start_worker, imds):
    # An operator turned Capacity Rebalancing off: no replacement comes, and no hook. The node serves on;
    # a real interruption comes with its 2-minute notice, whose path ends the node.
    asg = FakeAsg([DRAIN_HOOK], capacity_rebalance=False)
    handle = fleet_node(start_worker, imds, asg, FLUXER_REBALANCE_SECONDS=0.1)
    imds.recommend_rebalance()
    note = wait_for(lambda: fleet_note(stack).get("rebalance"), 10, what="the recommendation in the record")
    assert note["capacityRebalance"] is False
    job = stack.job()
    stack.send(job)
    assert stack.wait_state(job["id"], "succeeded")["attempt"] == 1
    assert handle.get()["state"] in ("READY", "BUSY")
    imds.notice_in(300)
    wait_for(lambda: handle.result == [0], 15, what="stopped by the spot notice")
    assert handle.worker.state == "STOPPED"
    assert asg.completions == []  # no hook was ever entered
