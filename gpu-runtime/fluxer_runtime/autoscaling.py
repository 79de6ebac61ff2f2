"""A fleet node's calls on its own Auto Scaling group (docs/fleet.md, "The node protocol"): protection,
its size, the termination hook (heartbeat, completion), leaving the fleet, and the breaker's stop.
The clients come from aws.client."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class GroupSize:
    desired: int
    minimum: int
    maximum: int
    in_service: tuple[str, ...] = ()  # the InService instances' ids (the idle rule's keeper)
    capacity_rebalance: bool | None = None  # CapacityRebalance: a recommendation brings a replacement


# AWS's bound on one instance's wait in a lifecycle hook, however many heartbeats: 48 h or 100 heartbeat
# timeouts, whichever is smaller (LifecycleHook.GlobalTimeout in the Auto Scaling API reference).
MAX_GLOBAL_TIMEOUT_SECONDS = 172800.0


@dataclass(frozen=True)
class Hook:
    name: str
    heartbeat_timeout: float
    # How long the instance may wait in all (each RecordLifecycleActionHeartbeat restarts heartbeat_timeout).
    global_timeout: float = MAX_GLOBAL_TIMEOUT_SECONDS


BREAKER_TAG = "fluxer:breaker"


class AutoScaling:
    """The calls a node makes on its own Auto Scaling group (the node role's fluxer-node-fleet policy
    allows them on that group only; the Describe calls take "*")."""

    def __init__(self, asg: Any, group: str) -> None:
        self._asg = asg
        self.group = group

    def protect(self, instance_id: str, protected: bool) -> None:
        self._asg.set_instance_protection(AutoScalingGroupName=self.group, InstanceIds=[instance_id],
                                          ProtectedFromScaleIn=protected)

    def size(self) -> GroupSize:
        answer = self._asg.describe_auto_scaling_groups(AutoScalingGroupNames=[self.group])
        groups = answer["AutoScalingGroups"]
        if not groups:
            raise LookupError(f"Auto Scaling group {self.group} not found")
        g = groups[0]
        in_service = tuple(sorted(str(i["InstanceId"]) for i in g.get("Instances", [])
                                  if i.get("LifecycleState") == "InService"))
        rebalance = g.get("CapacityRebalance")
        return GroupSize(int(g.get("DesiredCapacity", 0)), int(g.get("MinSize", 0)), int(g.get("MaxSize", 0)),
                         in_service, rebalance if isinstance(rebalance, bool) else None)

    def terminating_hook(self) -> Hook | None:
        hooks = self._asg.describe_lifecycle_hooks(AutoScalingGroupName=self.group).get("LifecycleHooks", [])
        for h in hooks:
            if h.get("LifecycleTransition") == "autoscaling:EC2_INSTANCE_TERMINATING":
                heartbeat = float(h.get("HeartbeatTimeout", 3600))
                bound = min(MAX_GLOBAL_TIMEOUT_SECONDS, 100 * heartbeat)
                answered = float(h.get("GlobalTimeout", bound))
                return Hook(str(h["LifecycleHookName"]), heartbeat, min(bound, answered))
        return None

    def heartbeat(self, hook: str, instance_id: str) -> None:
        self._asg.record_lifecycle_action_heartbeat(AutoScalingGroupName=self.group, LifecycleHookName=hook,
                                                    InstanceId=instance_id)

    def complete(self, hook: str, instance_id: str, result: str = "CONTINUE") -> None:
        self._asg.complete_lifecycle_action(AutoScalingGroupName=self.group, LifecycleHookName=hook,
                                            InstanceId=instance_id, LifecycleActionResult=result)

    def leave(self, instance_id: str) -> None:
        """Terminate this instance, the desired capacity decremented: no replacement."""
        self._asg.terminate_instance_in_auto_scaling_group(InstanceId=instance_id,
                                                           ShouldDecrementDesiredCapacity=True)

    def stop_fleet(self, reason: str) -> None:
        """The breaker: nothing more launches (min and desired 0, and the group's alarm actions
        suspended, so neither target tracking nor the scale-from-zero alarm raises it again), and the
        group says why. `fluxer fleet scale N` resumes it (the tag goes, alarm actions resume)."""
        self._asg.update_auto_scaling_group(AutoScalingGroupName=self.group, MinSize=0, DesiredCapacity=0)
        self._asg.create_or_update_tags(Tags=[{
            "ResourceId": self.group, "ResourceType": "auto-scaling-group", "Key": BREAKER_TAG,
            "Value": reason[:256], "PropagateAtLaunch": False,
        }])
        self._asg.suspend_processes(AutoScalingGroupName=self.group, ScalingProcesses=["AlarmNotification"])
