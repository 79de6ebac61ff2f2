"""The worker: SQS messages in, images and status documents out, one job at a time on the GPU.

Threads and what each owns:
  main (GPU)  takes the prefetched job and runs the pipeline; never waits on the network
  receiver    long-polls SQS while the GPU works, checks the job (schema, duplicates, cancel,
              deadline) and parks it in a one-job slot: the prefetched message
  io lane     writes status.json, encodes and uploads PNGs, deletes or releases messages, in
              order, so a job's final status always follows its last image
  lease       extends the visibility of every held message (the running one, the prefetched one,
              one whose uploads are still going), and nothing else
  ticker      polls the running job's cancel marker, writes the node record
  watcher     IMDSv2 spot notices and Auto Scaling's target lifecycle state (imds.NoticeWatcher)
  fleet       a fleet node's protection and idle exit (fleet.py), only with FLUXER_ASG_NAME
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from .autoscaling import AutoScaling
from .aws import TRANSIENT_ERRORS, Message, Queue, Store
from .breaker import Breaker
from .config import Config
from .control import Control
from .fleet import Fleet
from .imds import Imds, NoticeWatcher
from .iolane import IoLane
from .joblogs import JobLogs
from .logs import log, utc_now
from .messages import Messages
from .node_record import Counters
from .node_state import NodeState
from .pipelines import Engine
from .power import power_off
from .receiving import Receiving
from .running import Running
from .status import JobRun, Node, Prepared
from .weights import Progress, Pull, PullStopped, WeightsError, pull_weights

CANCEL_POLL_SECONDS = 0.5


class Worker(NodeState, Control, Fleet, Breaker, Messages, Receiving, Running):
    def __init__(
        self,
        cfg: Config,
        engine: Engine,
        queue: Queue,
        store: Store,
        node: Node,
        asg: AutoScaling | None = None,
        imds: Imds | None = None,
    ) -> None:
        if not cfg.model:
            raise ValueError("the worker needs FLUXER_MODEL")
        self.cfg = cfg
        self.engine = engine
        self.queue = queue
        self.store = store
        self.node = node
        self.started_at = utc_now()
        self.started_monotonic = time.monotonic()  # uptimeSeconds: immune to clock steps
        self.health_url: str | None = None

        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._state = "STARTING"
        self._state_reason: str | None = None
        self._failed = False
        self._stopped = False
        self._draining = False
        self._stopping = False  # leave serve() once drained (SIGTERM, spot instance-action)
        self._spot_notice = False
        self._rebalance_timer = False
        self._poweroff_reason: str | None = None  # set: halt the node once serve() has wound down
        self._stop_requested = threading.Event()
        self._deadline: float | None = None  # monotonic time by which the running job must be done
        self._slot: Prepared | None = None
        self._current: JobRun | None = None
        self._held: dict[str, Message] = {}

        self.counters = Counters()  # jobs by outcome, images, busy time, histograms: the node record
        self._record_lock = threading.Lock()
        self._ready_or_done = threading.Event()  # disarms the dead-man's switch
        self._deadman_fired = False
        self.last_error: dict[str, Any] | None = None
        self._step_seconds: float | None = None  # moving average, for "does the job fit?" on notice
        self._upload_seconds = 1.0
        self._node_record_due = False
        self._pull: Progress | None = None  # the weights pull at boot, when the bucket has a manifest
        self._pull_record_at = 0.0

        self._io = IoLane()
        self.job_logs = JobLogs()  # each job's lines, to <job>/log.jsonl when an attempt ends
        self._threads: list[threading.Thread] = []
        self._closed = threading.Event()
        self._fleet_init(asg)  # after self.node: a node without an instance id is in no fleet
        self._imds = imds  # set: watched for notices from serve() until serve() returns

    # ----- the background ticker ---------------------------------------------------------------

    def _lease_loop(self) -> None:
        """The visibility heartbeat, on a thread of its own: no S3 call (each can block a minute)
        ever delays it past the visibility timeout."""
        while not self._closed.wait(self.cfg.heartbeat_seconds):
            self._extend_held()

    def _tick_loop(self) -> None:
        now = time.monotonic()
        next_record = now + self.cfg.node_record_seconds
        next_cancel = now
        while not self._closed.is_set():
            now = time.monotonic()
            run = self._current
            if run is not None and now >= next_cancel:
                next_cancel = now + CANCEL_POLL_SECONDS
                try:
                    if self.store.exists(run.job.bucket, run.job.key("cancel")):
                        run.cancel.set()
                except TRANSIENT_ERRORS as exc:
                    log.warning("cancel check failed", job_id=run.job.id, error=str(exc))
            if now >= next_record or self._node_record_due:
                self._node_record_due = False
                next_record = now + self.cfg.node_record_seconds
                self._write_node_record()
            self._closed.wait(0.1)

    # ----- serve -------------------------------------------------------------------------------

    def _start(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _pull_weights(self) -> bool:
        """PULLING: when a push left a manifest for this model in the stack's bucket, the model loads
        from the verified copy of its files (weights.py). False: FAILED, or stopped while pulling."""
        if self.engine.pipe is not None or not self.cfg.model:
            return True

        def started(pull: Pull) -> None:
            with self._lock:
                self._pull = pull.progress
                self._pull_record_at = time.monotonic()  # PULLING's own record is the first
            if pull.fetch:
                files = len(pull.fetch)
                self._set_phase("PULLING", f"pulling {files} file{'s' if files != 1 else ''}, "
                                           f"{_size_text(pull.progress.bytes_total)}")

        try:
            pulled = pull_weights(self.store, self.cfg, self.cfg.model, on_start=started,
                                  on_progress=self._pull_progress, should_stop=lambda: self._stopping)
        except PullStopped:
            if not self._deadman_fired:
                with self._lock:
                    self._stopped = True
                self._refresh_state("stopped while pulling weights")
                self._write_node_record()
            return False
        except WeightsError as exc:
            if self._deadman_fired:
                return False
            with self._lock:
                self._failed = True
            self._record_error(type(exc).__name__, str(exc))
            self._set_phase("FAILED", str(exc))
            return False
        if pulled is not None:
            self.engine.model_dir = str(pulled[0])
        return True

    def _pull_progress(self, progress: Progress) -> None:
        """Bytes as they land: the state file on every report (twice a second at most), the node
        record every 10 s (or FLUXER_NODE_RECORD_SECONDS when shorter): the ticker is not running yet."""
        self._write_state_file()
        now = time.monotonic()
        if now - self._pull_record_at >= min(10.0, self.cfg.node_record_seconds):
            self._pull_record_at = now
            self._write_node_record()

    def load(self) -> bool:
        if not self._pull_weights():
            return False
        self._set_phase("LOADING")
        self.engine.on_download = lambda: self._set_phase("PULLING", "model not on disk, downloading")
        try:
            if self.engine.pipe is None:
                self.engine.load()
        except Exception as exc:
            if self._deadman_fired:
                return False  # the node is already going down with the deadline's reason
            with self._lock:
                self._failed = True
            self._record_error(type(exc).__name__, str(exc))
            self._set_phase("FAILED", f"model load failed: {exc}")
            return False
        finally:
            self.engine.on_download = None
        return not self._deadman_fired

    def serve(self) -> int:
        """Load the model, run jobs until stopped. 0 after a clean stop, 1 when the model failed."""
        log.add_sink(self.job_logs.sink)
        self._restore_node_record()
        self._set_phase("STARTING")
        self._start("deadman", self._ready_deadline_watch)
        watcher = self._watch_notices()
        try:
            return self._serve()
        finally:
            if watcher is not None:
                watcher.stop()  # a stopped worker has nothing left to drain on a notice
            self._ready_or_done.set()
            log.remove_sink(self.job_logs.sink)

    def _watch_notices(self) -> NoticeWatcher | None:
        """The IMDS watcher runs from STARTING on (a notice while the weights pull or the model
        loads stops the boot) and belongs to this serve(): it stops when serve() returns, so no
        poller outlives its worker."""
        if self._imds is None:
            return None
        watcher = NoticeWatcher(self._imds, self.cfg.imds_poll_seconds, self.on_notice,
                                lifecycle=self.asg is not None)
        watcher.start()
        self._threads.append(watcher)
        return watcher

    def _serve(self) -> int:
        if not self.load():
            if self._failed and not self._deadman_fired:
                self._boot_failed(self._state_reason or "boot failed")
                self._failed_power_off()
            return 1 if self._failed else 0  # 0: stopped (SIGTERM, spot notice) while pulling
        self._io.start()
        self._start("lease", self._lease_loop)
        self._set_phase("READY")  # its record written here: the ticker's first is one interval on
        self._ready_or_done.set()
        self._start("ticker", self._tick_loop)
        self._start("receiver", self._receive_loop)
        if self.asg is not None:
            self._start("fleet", self._fleet_loop)
        self._refresh_state()  # DRAINING when a drain or notice came while the model loaded
        while True:
            prepared = self._take()
            if prepared is None:
                break
            self._run(prepared)
        self._shutdown()
        self._complete_hook()
        if self._failed:
            self._failed_power_off()
            return 1
        if self._poweroff_reason:
            power_off(self.cfg.poweroff_command, self._poweroff_reason)
        return 0

    def _shutdown(self) -> None:
        receiver = next(t for t in self._threads if t.name == "receiver")
        # A long poll in flight cannot be cancelled; wait for it so a message it brings is released
        # now rather than hidden for a whole visibility timeout.
        receiver.join(self.cfg.wait_seconds + 5)
        if not self._io.flush(60):
            log.warning("uploads still pending at stop")
        with self._lock:
            left = list(self._held.values())
        for message in left:
            self._release(message, 0, "runtime stopping")
        with self._lock:
            self._stopped = True
        self._refresh_state("stopped")
        self._write_node_record()
        self._closed.set()
        self._io.close()


def _size_text(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"
