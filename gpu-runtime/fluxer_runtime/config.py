"""Runtime configuration: /etc/fluxer/runtime.env (what the node's user data writes), then the
process environment on top. One frozen object, read once at start.

FLUXER_ROOT (environment only: it says where the env file is) is the node's root folder, "" for /.
The local region runs each emulated node under a folder of its own, so the same scripts sent over
SSM find the same files on a real node and a local one (templates/node-bootstrap.sh installs there)."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_ENV_FILE = "/etc/fluxer/runtime.env"
STATE_FILE = "/run/fluxer/state.json"  # where the unit's RuntimeDirectory puts it
LOG_FILE = "/var/log/fluxer/runtime.log"  # the local region's per-node runtime output
# An operator's restart clears the unit's start-rate counter first (templates/fluxer-runtime.service
# powers the node off after 5 starts in 10 minutes: a crash loop, not a few deploys).
RESTART_COMMAND = "systemctl reset-failed fluxer-runtime || true; systemctl restart fluxer-runtime"
MODELS = ("flux-dev", "flux-schnell", "sdxl", "tiny")
DEVICES = ("auto", "cpu", "cuda")
MEMORY_POLICIES = ("auto", "full", "fp8", "offload")
REBALANCE_ACTIONS = ("resume", "poweroff")
MIB = 1024**2


class ConfigError(Exception):
    """A configuration value the runtime cannot use; the message names the key and where it came from."""


@dataclass(frozen=True)
class Config:
    queue_url: str | None
    region: str | None
    endpoint_url: str | None
    bucket: str | None
    prefix: str
    stack: str | None
    model: str | None
    model_dir: str | None
    device: str
    memory_policy: str
    health_host: str
    health_port: int
    imds_url: str | None  # None: the IMDS watcher is off (local stack, tests without a stand-in)
    visibility_seconds: int
    heartbeat_seconds: float
    wait_seconds: int
    instance_id: str | None
    hf_token_parameter: str | None
    node_record_seconds: float
    state_file: str | None
    drain_seconds: float
    notice_margin_seconds: float
    imds_poll_seconds: float
    poweroff_command: str  # how this node halts itself: tests and the local stack set a harmless one
    rebalance_seconds: float  # after a rebalance recommendation with no interruption notice...
    rebalance_action: str  # ...resume taking jobs, or power off
    failed_poweroff_seconds: float  # how long a FAILED runtime stays up to be looked at
    ready_deadline_seconds: float  # the dead-man's switch: READY by then, or FAILED and off
    release: str | None  # the runtime release id the bootstrap installed, for the node record
    env_file: str
    root: str = ""  # FLUXER_ROOT without a trailing slash: "" is /
    log_file: str | None = None  # FLUXER_LOG_FILE: `fluxer-runtime logs` reads it instead of the journal
    restart_command: str = RESTART_COMMAND  # what `fluxer-runtime restart` runs
    weights_dir: str | None = None  # FLUXER_WEIGHTS_DIR: where pulled weights go (weights.py picks else)
    pull_concurrency: int = 16  # ranged GETs in flight while pulling weights
    pull_part_bytes: int = 32 * MIB  # the size of each ranged GET
    asg_name: str | None = None  # FLUXER_ASG_NAME: the node's Auto Scaling group; None: not in a fleet
    protect_hysteresis_seconds: float = 30.0  # idle this long before scale-in protection is lifted
    idle_seconds: float = 600.0  # idle this long, queue empty: the node leaves its fleet
    surplus_idle_seconds: float = 120.0  # ...or this long when it is surplus and not the keeper
    boot_failure_window_seconds: float = 1800.0  # the breaker counts failed boots this far back...
    boot_failure_limit: int = 3  # ...and stops the fleet at this many (0: never)

    def under_root(self, path: str) -> str:
        """An absolute node path (/run/fluxer/state.json) inside FLUXER_ROOT."""
        return f"{self.root}{path}"

    def state_file_candidates(self) -> list[str]:
        """Where `status|drain|resume|logs|restart` look for the state file, in order. SSM's shell
        has no FLUXER_STATE_FILE (the unit sets it for the service only), hence the default."""
        found = [self.state_file] if self.state_file else []
        default = self.under_root(STATE_FILE)
        return [*found, default] if default not in found else found

    def local_instance_id(self) -> str:
        return self.instance_id or f"local-{socket.gethostname()}-{os.getpid()}"


def installed_release() -> str | None:
    """The release the bootstrap installed this environment from: it runs as
    /opt/fluxer/releases/<id>/venv, beside the `.installed` marker that names <id>."""
    try:
        return (Path(sys.prefix).parent / ".installed").read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def read_env_file(path: str) -> dict[str, str]:
    """KEY=VALUE lines, `#` comments, optional `export ` and surrounding quotes (systemd's
    EnvironmentFile reads the same file, so keep to what both understand). A missing file is fine."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"{path}:{number}: expected KEY=VALUE, got {raw.strip()!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def load_config(environ: Mapping[str, str] | None = None) -> Config:
    env = dict(os.environ if environ is None else environ)
    root = env.get("FLUXER_ROOT", "").rstrip("/")
    env_file = env.get("FLUXER_ENV_FILE") or f"{root}{DEFAULT_ENV_FILE}"
    file_values = read_env_file(env_file)
    merged = {**file_values, **{k: v for k, v in env.items() if k.startswith(("FLUXER_", "AWS_"))}}

    def where(key: str) -> str:
        return "environment" if key in env else env_file

    def text(key: str, default: str | None = None) -> str | None:
        value = merged.get(key)
        return value if value not in (None, "") else default

    def number(key: str, default: float, *, minimum: float = 0, integer: bool = False) -> float:
        raw = text(key)
        if raw is None:
            return default
        try:
            value = int(raw) if integer else float(raw)
        except ValueError:
            kind = "an integer" if integer else "a number"
            raise ConfigError(f"{key}={raw!r} ({where(key)}): expected {kind}") from None
        if value < minimum:
            raise ConfigError(f"{key}={raw!r} ({where(key)}): must be >= {minimum}")
        return value

    def choice(key: str, allowed: tuple[str, ...], default: str | None) -> str | None:
        value = text(key, default)
        if value is not None and value not in allowed:
            raise ConfigError(f"{key}={value!r} ({where(key)}): expected one of {', '.join(allowed)}")
        return value

    imds = text("FLUXER_IMDS_URL", "http://169.254.169.254")
    visibility = int(number("FLUXER_VISIBILITY_SECONDS", 300, minimum=1, integer=True))
    heartbeat = number("FLUXER_HEARTBEAT_SECONDS", 30, minimum=0.1)
    if heartbeat * 2 > visibility:
        # one missed beat must not let the message reappear under a running job
        raise ConfigError(
            f"FLUXER_HEARTBEAT_SECONDS={heartbeat:g} ({where('FLUXER_HEARTBEAT_SECONDS')}) times 2 exceeds "
            f"FLUXER_VISIBILITY_SECONDS={visibility} ({where('FLUXER_VISIBILITY_SECONDS')}): "
            "the heartbeat cannot keep a message invisible"
        )
    return Config(
        queue_url=text("FLUXER_QUEUE_URL"),
        region=text("FLUXER_REGION") or text("AWS_REGION") or text("AWS_DEFAULT_REGION"),
        endpoint_url=text("FLUXER_ENDPOINT_URL"),
        bucket=text("FLUXER_BUCKET"),
        prefix=merged.get("FLUXER_PREFIX", ""),
        stack=text("FLUXER_STACK"),
        model=choice("FLUXER_MODEL", MODELS, None),
        model_dir=text("FLUXER_MODEL_DIR"),
        device=choice("FLUXER_DEVICE", DEVICES, "auto") or "auto",
        memory_policy=choice("FLUXER_MEMORY_POLICY", MEMORY_POLICIES, "auto") or "auto",
        health_host=text("FLUXER_HEALTH_HOST", "127.0.0.1") or "127.0.0.1",
        health_port=int(number("FLUXER_HEALTH_PORT", 8787, integer=True)),
        imds_url=None if imds == "off" else (imds or "").rstrip("/"),
        visibility_seconds=visibility,
        heartbeat_seconds=heartbeat,
        wait_seconds=int(number("FLUXER_WAIT_SECONDS", 20, integer=True)),
        instance_id=text("FLUXER_INSTANCE_ID"),
        hf_token_parameter=text("FLUXER_HF_TOKEN_PARAMETER"),
        node_record_seconds=number("FLUXER_NODE_RECORD_SECONDS", 60, minimum=0.1),
        # under a FLUXER_ROOT the runtime writes where the scripts look; on / the unit sets it
        state_file=text("FLUXER_STATE_FILE", f"{root}{STATE_FILE}" if root else None),
        drain_seconds=number("FLUXER_DRAIN_SECONDS", 90),
        notice_margin_seconds=number("FLUXER_NOTICE_MARGIN_SECONDS", 15),
        imds_poll_seconds=number("FLUXER_IMDS_POLL_SECONDS", 2, minimum=0.1),
        poweroff_command=text("FLUXER_POWEROFF_COMMAND", "systemctl poweroff") or "systemctl poweroff",
        rebalance_seconds=number("FLUXER_REBALANCE_SECONDS", 600, minimum=0),
        rebalance_action=choice("FLUXER_REBALANCE_ACTION", REBALANCE_ACTIONS, "resume") or "resume",
        failed_poweroff_seconds=number("FLUXER_FAILED_POWEROFF_SECONDS", 600, minimum=0),
        ready_deadline_seconds=number("FLUXER_READY_DEADLINE_SECONDS", 1200, minimum=0.1),
        release=text("FLUXER_RELEASE") or installed_release(),
        env_file=env_file,
        root=root,
        log_file=text("FLUXER_LOG_FILE"),
        restart_command=text("FLUXER_RESTART_COMMAND", RESTART_COMMAND) or RESTART_COMMAND,
        weights_dir=text("FLUXER_WEIGHTS_DIR"),
        pull_concurrency=int(number("FLUXER_PULL_CONCURRENCY", 16, minimum=1, integer=True)),
        pull_part_bytes=int(number("FLUXER_PULL_PART_MIB", 32, minimum=1, integer=True)) * MIB,
        asg_name=text("FLUXER_ASG_NAME"),
        protect_hysteresis_seconds=number("FLUXER_PROTECT_HYSTERESIS_SECONDS", 30),
        idle_seconds=number("FLUXER_IDLE_SECONDS", 600, minimum=1),
        surplus_idle_seconds=number("FLUXER_SURPLUS_IDLE_SECONDS", 120, minimum=1),
        boot_failure_window_seconds=number("FLUXER_BOOT_FAILURE_WINDOW_SECONDS", 1800, minimum=1),
        boot_failure_limit=int(number("FLUXER_BOOT_FAILURE_LIMIT", 3, integer=True)),
    )
