"""The replayed day's parts: the policy (fluxer's settings and the AWS behaviour assumed), jobs,
nodes, counters, and the CLI's scale-from-zero rule as the simulator mirrors it."""

from __future__ import annotations

from dataclasses import dataclass

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

