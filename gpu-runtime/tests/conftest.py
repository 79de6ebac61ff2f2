"""Test stack: one moto server per session (real SQS/S3/SSM over HTTP on loopback), reset between
modules; a loopback IMDSv2 stand-in; helpers to run workers in this process or as real processes.
See README.md in this directory for what each stand-in serves and why."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import boto3
import jsonschema
import pytest
from standins import ImdsStandIn

VENV_BIN = Path(sys.executable).parent
REGION = "us-east-1"
SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schema"
STATUS_SCHEMA = json.loads((SCHEMA_DIR / "status.v1.schema.json").read_text(encoding="utf-8"))
NODE_SCHEMA = json.loads((SCHEMA_DIR / "node.v1.schema.json").read_text(encoding="utf-8"))
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}
# This process's own boto3 clients (and the in-process workers) use the same dummy credentials.
os.environ.update(AWS_ENV)
for _leak in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
    os.environ.pop(_leak, None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout: float, interval: float = 0.05, what: str = "") -> Any:
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


def uuid7() -> str:
    millis = int(time.time() * 1000)
    rand = secrets.token_hex(10)
    raw = f"{millis:012x}7{rand[:3]}{(8 | int(rand[3], 16) & 3):x}{rand[4:7]}{rand[7:19]}"
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:32]}"


# ----- moto ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1).read()
            return True
        except OSError:
            return False

    wait_for(up, 30, 0.1, "moto server")
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module", autouse=True)
def _reset_moto(moto_url: str) -> None:
    urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST"), timeout=10)


# ----- IMDSv2 stand-in (standins.py) --------------------------------------------------------------


@pytest.fixture(scope="session")
def _imds_server() -> ImdsStandIn:
    return ImdsStandIn()


@pytest.fixture
def imds(_imds_server: ImdsStandIn) -> Iterator[ImdsStandIn]:
    _imds_server.clear()
    yield _imds_server
    _imds_server.clear()


# ----- the AWS side of a stack --------------------------------------------------------------------


@dataclass
class Stack:
    endpoint: str
    queue_url: str
    bucket: str
    prefix: str
    sqs: Any
    s3: Any
    ssm: Any

    def job(self, **overrides: Any) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "version": 1,
            "id": uuid7(),
            "prompt": "a red fox in snow",
            "model": "tiny",
            "width": 64,
            "height": 64,
            "steps": 4,
            "guidance": 3.5,
            "seed": 42,
            "count": 1,
            "output": {"bucket": self.bucket, "prefix": self.prefix},
            "submittedAt": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "submittedBy": "pytest",
        }
        doc.update(overrides)
        return doc

    def send(self, body: dict[str, Any] | str, queued_status: bool = True) -> str:
        """Like `fluxer generate`: a `queued` status first, then the message."""
        text = body if isinstance(body, str) else json.dumps(body)
        if queued_status and isinstance(body, dict):
            self.put_json(f"{self.prefix}jobs/{body['id']}/status.json",
                          {"id": body["id"], "state": "queued", "attempt": 1,
                           "updatedAt": datetime.now(timezone.utc).isoformat()})
        return str(self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=text)["MessageId"])

    def put_json(self, key: str, doc: dict[str, Any], bucket: str | None = None) -> None:
        self.s3.put_object(Bucket=bucket or self.bucket, Key=key, Body=json.dumps(doc).encode())

    def status(self, job_id: str) -> dict[str, Any] | None:
        try:
            key = f"{self.prefix}jobs/{job_id}/status.json"
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"]
        except self.s3.exceptions.NoSuchKey:
            return None
        return dict(json.loads(body.read()))

    def wait_state(self, job_id: str, states: str | tuple[str, ...], timeout: float = 30) -> dict[str, Any]:
        wanted = (states,) if isinstance(states, str) else states

        last: dict[str, Any] = {}

        def check() -> dict[str, Any] | None:
            doc = self.status(job_id)
            last["doc"] = doc
            return doc if doc and doc.get("state") in wanted else None

        try:
            return dict(wait_for(check, timeout, 0.05, f"job {job_id} in {wanted}"))
        except AssertionError as exc:  # say where it stood: "running", "requeued" and why, or nothing
            doc = last.get("doc") or {}
            seen = {k: doc.get(k) for k in ("state", "attempt", "error", "progress") if k in doc}
            raise AssertionError(f"{exc}; last seen {seen or 'no status'}") from None

    def keys(self, prefix: str = "") -> list[str]:
        response = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=self.prefix + prefix)
        return sorted(item["Key"] for item in response.get("Contents", []))

    def keys_anywhere(self) -> list[str]:
        response = self.s3.list_objects_v2(Bucket=self.bucket)
        return sorted(item["Key"] for item in response.get("Contents", []))

    def status_versions(self) -> list[tuple[str, dict[str, Any]]]:
        """Every version of every status.json in the bucket (versioning is on), oldest first."""
        return self.versions(lambda key: key.endswith("status.json"))

    def node_versions(self, instance_id: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        """Every version of every node record (`<prefix>nodes/<id>.json`), oldest first."""
        wanted = f"/nodes/{instance_id}.json" if instance_id else None
        return self.versions(lambda key: "/nodes/" in f"/{key}" and key.endswith(".json")
                             and (wanted is None or f"/{key}".endswith(wanted)))

    def versions(self, keep: Callable[[str], bool]) -> list[tuple[str, dict[str, Any]]]:
        found: list[tuple[str, dict[str, Any]]] = []
        pages = self.s3.get_paginator("list_object_versions").paginate(Bucket=self.bucket)
        for page in pages:
            for version in reversed(page.get("Versions", [])):
                if keep(version["Key"]):
                    body = self.s3.get_object(Bucket=self.bucket, Key=version["Key"],
                                              VersionId=version["VersionId"])["Body"].read()
                    found.append((version["Key"], json.loads(body)))
        return found

    def counts(self) -> tuple[int, int]:
        """(visible, in flight) messages."""
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"])


@pytest.fixture
def stack(moto_url: str) -> Iterator[Stack]:
    session = boto3.session.Session()
    sqs = session.client("sqs", region_name=REGION, endpoint_url=moto_url)
    s3 = session.client("s3", region_name=REGION, endpoint_url=moto_url)
    ssm = session.client("ssm", region_name=REGION, endpoint_url=moto_url)
    name = f"fluxer-test-{secrets.token_hex(4)}"
    queue_url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    stack = Stack(moto_url, queue_url, name, "fluxer/", sqs, s3, ssm)
    yield stack
    # Every status document anyone wrote in the test, each version, must match the contract
    # (schema/status.v1.schema.json): what the runtime writes is what the CLI reads.
    validator = jsonschema.Draft202012Validator(STATUS_SCHEMA, format_checker=jsonschema.FormatChecker())
    for key, doc in stack.status_versions():
        errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(doc)]
        assert not errors, f"{key} breaks the status schema: {errors}"
    # ...and every version of every node record (schema/node.v1.schema.json), in every state.
    nodes = jsonschema.Draft202012Validator(NODE_SCHEMA, format_checker=jsonschema.FormatChecker())
    for key, doc in stack.node_versions():
        errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in nodes.iter_errors(doc)]
        assert not errors, f"{key} breaks the node schema: {errors}"


def worker_env(stack: Stack, **overrides: Any) -> dict[str, str]:
    env = {
        "FLUXER_ENV_FILE": "/nonexistent/runtime.env",
        "FLUXER_QUEUE_URL": stack.queue_url,
        "FLUXER_REGION": REGION,
        "FLUXER_ENDPOINT_URL": stack.endpoint,
        "FLUXER_BUCKET": stack.bucket,
        "FLUXER_PREFIX": stack.prefix,
        "FLUXER_STACK": "test",
        "FLUXER_MODEL": "tiny",
        "FLUXER_DEVICE": "cpu",
        "FLUXER_HEALTH_PORT": "0",
        "FLUXER_IMDS_URL": "off",
        "FLUXER_VISIBILITY_SECONDS": "5",
        "FLUXER_HEARTBEAT_SECONDS": "1",
        "FLUXER_POWEROFF_COMMAND": "true",  # never halt the machine running the tests
        "FLUXER_FAILED_POWEROFF_SECONDS": "2",
        "FLUXER_WAIT_SECONDS": "1",
        "FLUXER_NODE_RECORD_SECONDS": "60",
    }
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)  # None: leave the key to the env file
        else:
            env[key] = str(value)
    return env


# ----- in-process workers (threads; the tiny model is loaded once per session) --------------------


@pytest.fixture(scope="session")
def engine() -> Any:
    from fluxer_runtime.pipelines import Engine, detect_device

    loaded = Engine("tiny", detect_device("cpu"), "full")
    loaded.load()
    return loaded


class Gate:
    """A slow GPU under the test's control: the in-process worker waits before image `index` of any
    job until the test opens the gate, so "mid-job" does not depend on how fast this machine is."""

    def __init__(self) -> None:
        self.index: int | None = None
        self.reached = threading.Event()
        self.opened = threading.Event()

    def hold_before_image(self, index: int) -> None:
        self.index = index

    def open(self) -> None:
        self.opened.set()


@pytest.fixture
def gate(engine: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
    held = Gate()
    real = engine.generate

    def generate(job: Any, index: int, on_step: Callable[[int], bool]) -> Any:
        if index == held.index and not held.opened.is_set():
            held.reached.set()
            held.opened.wait(60)
        return real(job, index, on_step)

    monkeypatch.setattr(engine, "generate", generate)
    yield held
    held.open()


@dataclass
class InProcess:
    worker: Any
    thread: threading.Thread
    health: Any
    result: list[int] = field(default_factory=list)

    def stop(self, timeout: float = 30) -> None:
        if self.thread.is_alive():
            self.worker.request_stop("test teardown")
            self.thread.join(timeout)
        self.health.stop()

    def get(self, path: str = "/health") -> dict[str, Any]:
        with urllib.request.urlopen(self.health.url + path, timeout=5) as response:
            return dict(json.loads(response.read()))

    def post(self, action: str) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(f"{self.health.url}/{action}", data=b"", method="POST")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, dict(json.loads(response.read()))
        except urllib.error.HTTPError as exc:
            return exc.code, dict(json.loads(exc.read()))


@pytest.fixture
def start_worker(stack: Stack, engine: Any) -> Iterator[Callable[..., InProcess]]:
    from fluxer_runtime.aws import Queue, Store, client
    from fluxer_runtime.config import load_config
    from fluxer_runtime.health import HealthServer
    from fluxer_runtime.imds import Imds
    from fluxer_runtime.status import Node
    from fluxer_runtime.worker import Worker

    started: list[InProcess] = []

    def start(node: Any = None, asg: Any = None, **overrides: Any) -> InProcess:
        """asg: an AutoScaling (fluxer_runtime.autoscaling) over a stand-in client: a fleet node, when
        `node` has an instance id (a `local-` one is in no fleet)."""
        cfg = load_config(worker_env(stack, **overrides))
        engine.policy = "full"
        worker = Worker(cfg, engine, Queue(client("sqs", cfg, read_timeout=30), str(cfg.queue_url)),
                        Store(client("s3", cfg)), node or Node(f"local-test-{len(started)}", "local", None),
                        asg=asg, imds=Imds(cfg.imds_url) if cfg.imds_url else None)
        health = HealthServer(cfg.health_host, cfg.health_port, worker.health, worker.control_actions())
        health.start()
        worker.health_url = health.url
        handle = InProcess(worker, threading.Thread(target=lambda: None), health)
        handle.thread = threading.Thread(target=lambda: handle.result.append(worker.serve()), daemon=True)
        handle.thread.start()
        started.append(handle)
        wait_for(lambda: worker.state not in ("STARTING", "LOADING"), 10, what="worker READY")
        return handle

    yield start
    for handle in started:
        handle.stop()


# ----- workers as real processes (`.venv/bin/fluxer-runtime serve`) -------------------------------


@dataclass
class Process:
    proc: subprocess.Popen[bytes]
    log_path: Path
    state_file: Path
    started: float

    def state(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.state_file.read_text()))
        except (OSError, ValueError):
            return {}

    def logs(self) -> list[dict[str, Any]]:
        lines = []
        for line in self.log_path.read_text().splitlines():
            if line.startswith("{"):
                lines.append(json.loads(line))
        return lines

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "FLUXER_ENV_FILE": "/nonexistent", "FLUXER_STATE_FILE": str(self.state_file)}
        return subprocess.run([str(VENV_BIN / "fluxer-runtime"), *args], env=env, capture_output=True,
                              text=True, timeout=30)

    def terminate(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)


@pytest.fixture
def spawn_worker(stack: Stack, tmp_path: Path) -> Iterator[Callable[..., Process]]:
    spawned: list[Process] = []

    def spawn(wait_ready: bool = True, **overrides: Any) -> Process:
        index = len(spawned)
        state_file = tmp_path / f"worker-{index}.state.json"
        log_path = tmp_path / f"worker-{index}.log"
        env = {**os.environ, **worker_env(stack, FLUXER_STATE_FILE=state_file, **overrides)}
        with log_path.open("wb") as out:
            proc = subprocess.Popen([str(VENV_BIN / "fluxer-runtime"), "serve"], env=env, stdout=out,
                                    stderr=subprocess.STDOUT)
        process = Process(proc, log_path, state_file, time.monotonic())
        spawned.append(process)
        if wait_ready:
            # READY may last only milliseconds when jobs are waiting: any serving state counts.
            wait_for(lambda: process.state().get("state") in ("READY", "BUSY", "DRAINING")
                     or proc.poll() is not None, 60, what="worker process READY")
            assert proc.poll() is None, log_path.read_text()
        return process

    yield spawn
    for process in spawned:
        process.terminate(signal.SIGKILL)
        process.proc.wait(10)
