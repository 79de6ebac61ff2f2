"""`fluxer-runtime serve`: the node's one long-running process. Who the node is (IMDS), the Hugging
Face token (SSM), the AWS clients, the worker and its loopback health endpoint, SIGTERM/SIGINT → drain.
Like every command's, its imports of torch, diffusers and boto3 wait until it runs (`--help` stays fast)."""

from __future__ import annotations

import signal
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from . import __version__

if TYPE_CHECKING:
    from .config import Config
    from .status import Node


def _read_hf_token(cfg: Config) -> str | None:
    """The Hugging Face token lives in SSM Parameter Store (a SecureString), never in the env file."""
    if not cfg.hf_token_parameter:
        return None
    from .aws import client
    from .logs import log

    try:
        value = client("ssm", cfg).get_parameter(Name=cfg.hf_token_parameter, WithDecryption=True)
    except Exception as exc:
        log.warning("Hugging Face token not read", parameter=cfg.hf_token_parameter, error=str(exc))
        return None
    log.info("Hugging Face token read", parameter=cfg.hf_token_parameter)
    return str(value["Parameter"]["Value"])


def _identity(cfg: Config) -> Node:
    """Who this node is: IMDS (instance id, type, zone), else a local id (the local stack, tests)."""
    from .imds import Imds
    from .logs import log
    from .status import Node

    if cfg.imds_url:
        try:
            identity = Imds(cfg.imds_url).identity()
            return Node(cfg.instance_id or identity.instance_id, identity.instance_type, identity.az,
                        identity.az_id, identity.region, identity.lifecycle, identity.launch_time)
        except Exception as exc:
            log.warning("IMDS identity not available; using a local id", error=str(exc))
    return Node(cfg.local_instance_id(), "local", None)


def serve(cfg: Config, started: float) -> int:
    """Run the worker until it stops; `started`: when the command began (startupSeconds)."""
    if not cfg.queue_url or not cfg.model:
        missing = [k for k, v in (("FLUXER_QUEUE_URL", cfg.queue_url), ("FLUXER_MODEL", cfg.model)) if not v]
        print(f"Error: serve needs {' and '.join(missing)} (environment or {cfg.env_file})", file=sys.stderr)
        return 2

    from .autoscaling import AutoScaling
    from .aws import Queue, Store, client
    from .health import HealthServer
    from .imds import Imds
    from .logs import log
    from .pipelines import Engine, ModelUnavailable, choose_policy, detect_device
    from .worker import Worker

    node = _identity(cfg)
    try:
        device = detect_device(cfg.device)
    except ModelUnavailable as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    policy = choose_policy(cfg.model, device, cfg.memory_policy)
    log.info("starting", version=__version__, model=cfg.model, device=device.name,
             memoryBytes=device.memory_bytes, memoryPolicy=policy,
             policySource="FLUXER_MEMORY_POLICY" if cfg.memory_policy != "auto" else "auto",
             instanceId=node.instance_id, queue=cfg.queue_url)
    if cfg.heartbeat_seconds * 2 > cfg.visibility_seconds:
        # One late heartbeat would let a held message reappear on another node mid-job.
        log.warning("FLUXER_HEARTBEAT_SECONDS should be at most half of FLUXER_VISIBILITY_SECONDS",
                    heartbeatSeconds=cfg.heartbeat_seconds, visibilitySeconds=cfg.visibility_seconds)
    engine = Engine(cfg.model, device, policy, cfg.model_dir, _read_hf_token(cfg))
    # The long poll must outlive its own wait, or every empty poll ends in a read timeout.
    sqs = client("sqs", cfg, read_timeout=cfg.wait_seconds + 10)
    # One S3 client for everything; at boot the weights pull keeps FLUXER_PULL_CONCURRENCY GETs in flight.
    s3 = client("s3", cfg, max_pool_connections=max(10, cfg.pull_concurrency + 4))
    # A fleet node (FLUXER_ASG_NAME from its user data) speaks to its own group; any other never does.
    asg = AutoScaling(client("autoscaling", cfg), cfg.asg_name) if cfg.asg_name else None
    # The worker watches IMDS for spot notices (and its group's lifecycle state) while it serves.
    imds = Imds(cfg.imds_url) if cfg.imds_url else None
    worker = Worker(cfg, engine, Queue(sqs, cfg.queue_url), Store(s3), node, asg, imds)

    try:
        health = HealthServer(cfg.health_host, cfg.health_port, worker.health, worker.control_actions())
    except OSError as exc:
        print(f"Error: cannot listen on {cfg.health_host}:{cfg.health_port}: {exc}", file=sys.stderr)
        return 1
    health.start()
    worker.health_url = health.url
    log.info("health endpoint", url=health.url)

    def on_signal(signum: int, _frame: Any) -> None:
        # Off the signal handler: draining does network calls and takes locks the interrupted
        # thread may hold.
        name = signal.Signals(signum).name
        threading.Thread(target=worker.request_stop, args=(name,), daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    log.info("loading model", model=cfg.model, startupSeconds=round(time.monotonic() - started, 3))
    rc = worker.serve()
    if rc == 0:
        log.info("stopped", jobsDone=worker.jobs_done, imagesDone=worker.images_done)
    health.stop()
    return rc
