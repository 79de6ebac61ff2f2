"""Configuration, the shared schema file, memory policy, PNG metadata, IMDSv2 client and watcher, model
load failure — the parts a node operator sees without a queue."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest
from conftest import Stack, wait_for, worker_env
from PIL import Image

REPO = Path(__file__).resolve().parents[2]


def test_env_file_then_environment_overrides(tmp_path: Path):
    from fluxer_runtime.config import load_config

    env_file = tmp_path / "runtime.env"
    env_file.write_text(
        "# written by the node's user data\n"
        "FLUXER_QUEUE_URL=https://sqs.eu-west-1.amazonaws.com/123456789012/fluxer-jobs\n"
        'export FLUXER_BUCKET="fluxer-images"\n'
        "FLUXER_PREFIX=fluxer/\n"
        "FLUXER_MODEL=sdxl\n"
        "FLUXER_HF_TOKEN_PARAMETER=\n"
        "FLUXER_VISIBILITY_SECONDS=600\n"
    )
    cfg = load_config({"FLUXER_ENV_FILE": str(env_file), "FLUXER_MODEL": "tiny", "AWS_REGION": "eu-west-1"})
    assert cfg.queue_url.endswith("/fluxer-jobs")
    assert cfg.bucket == "fluxer-images" and cfg.prefix == "fluxer/"
    assert cfg.model == "tiny"  # the environment wins
    assert cfg.region == "eu-west-1" and cfg.visibility_seconds == 600
    assert cfg.hf_token_parameter is None  # rendered empty by the template: no token
    assert cfg.health_host == "127.0.0.1" and cfg.health_port == 8787 and cfg.wait_seconds == 20
    assert cfg.imds_url == "http://169.254.169.254" and cfg.heartbeat_seconds == 30

    off = load_config({"FLUXER_ENV_FILE": str(tmp_path / "missing.env"), "FLUXER_IMDS_URL": "off"})
    assert off.imds_url is None and off.queue_url is None and off.local_instance_id().startswith("local-")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("FLUXER_MODEL=flux-pro", "FLUXER_MODEL='flux-pro'"),
        ("FLUXER_HEALTH_PORT=http", "expected an integer"),
        ("FLUXER_DEVICE=tpu", "expected one of auto, cpu, cuda"),
        ("just words", "expected KEY=VALUE"),
    ],
)
def test_bad_settings_name_the_key_and_the_file(tmp_path: Path, line: str, message: str):
    from fluxer_runtime.config import ConfigError, load_config

    env_file = tmp_path / "runtime.env"
    env_file.write_text(line + "\n")
    with pytest.raises(ConfigError) as caught:
        load_config({"FLUXER_ENV_FILE": str(env_file)})
    assert message in str(caught.value)
    assert str(env_file) in str(caught.value)


@pytest.mark.parametrize(("heartbeat", "visibility"), [("31", "60"), ("30", "59")])
def test_a_heartbeat_that_cannot_keep_a_message_invisible_is_refused(
    tmp_path: Path, heartbeat: str, visibility: str
):
    from fluxer_runtime.config import ConfigError, load_config

    env = {"FLUXER_ENV_FILE": str(tmp_path / "missing.env")}
    with pytest.raises(ConfigError) as caught:
        load_config({**env, "FLUXER_HEARTBEAT_SECONDS": heartbeat, "FLUXER_VISIBILITY_SECONDS": visibility})
    message = str(caught.value)
    assert "FLUXER_HEARTBEAT_SECONDS" in message and "FLUXER_VISIBILITY_SECONDS" in message
    ok = load_config({**env, "FLUXER_HEARTBEAT_SECONDS": "30", "FLUXER_VISIBILITY_SECONDS": "60"})
    assert ok.heartbeat_seconds * 2 <= ok.visibility_seconds


def test_schema_comes_from_the_repository_an_override_or_the_installed_package(tmp_path: Path, monkeypatch):
    from fluxer_runtime import contract

    assert contract.schema_path() == REPO / "schema" / "job.v1.schema.json"
    assert contract.model_defaults("tiny") == {"width": 64, "height": 64, "steps": 4, "guidance": 3.5}
    assert contract.model_defaults("flux-schnell")["steps"] == 4
    monkeypatch.setenv("FLUXER_JOB_SCHEMA", str(tmp_path / "other.json"))
    assert contract.schema_path() == tmp_path / "other.json"

    # A wheel built from a fresh copy of the sources carries the schema's content, not a link.
    shutil.copytree(REPO / "gpu-runtime", tmp_path / "src" / "gpu-runtime", symlinks=True,
                    ignore=shutil.ignore_patterns("tests", "*.egg-info", "__pycache__"))
    shutil.copytree(REPO / "schema", tmp_path / "src" / "schema")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path / "dist"), str(tmp_path / "src" / "gpu-runtime")],
                   check=True, capture_output=True, timeout=120)
    wheel = next((tmp_path / "dist").glob("fluxer_runtime-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        packaged = archive.read("fluxer_runtime/job.v1.schema.json")
        manifest = archive.read("fluxer_runtime/model-manifest.v1.schema.json")  # weights_manifest reads it
    assert json.loads(packaged) == json.loads((REPO / "schema" / "job.v1.schema.json").read_text())
    assert json.loads(manifest) == json.loads((REPO / "schema" / "model-manifest.v1.schema.json").read_text())


def test_memory_policy_follows_gpu_memory_and_steps_up():
    from fluxer_runtime.pipelines import GIB, DeviceInfo, choose_policy, next_policy

    def gpu(gib: float) -> DeviceInfo:
        return DeviceInfo("cuda", "gpu", int(gib * GIB))

    assert choose_policy("flux-dev", gpu(44.4)) == "full"  # g6e: L40S 48 GB
    assert choose_policy("flux-dev", gpu(22.3)) == "fp8"  # g5/g6: A10G or L4 24 GB
    assert choose_policy("flux-schnell", gpu(15)) == "offload"  # g4dn: T4 16 GB
    assert choose_policy("sdxl", gpu(22.3)) == "full"
    assert choose_policy("sdxl", gpu(8)) == "offload"
    assert choose_policy("flux-dev", DeviceInfo("cpu", "cpu", 64 * GIB)) == "full"
    assert choose_policy("flux-dev", gpu(80), requested="offload") == "offload"  # the override wins
    assert [next_policy(p) for p in ("full", "fp8", "offload")] == ["fp8", "offload", None]


def test_png_carries_the_generation_parameters():
    from fluxer_runtime.contract import parse_job
    from fluxer_runtime.status import png_bytes

    job = parse_job(json.dumps(Stack("", "", "bucket-a", "p/", None, None, None).job(
        seed=4294967295, negativePrompt="fog", guidance=2)))
    image = Image.open(io.BytesIO(png_bytes(Image.new("RGB", (64, 64)), job, 1)))
    assert image.text["seed"] == "0"  # seed + index wraps at 2^32
    assert image.text["negative_prompt"] == "fog" and image.text["guidance"] == "2"
    assert image.text["job_id"] == job.id and image.text["image_index"] == "1"
    assert image.text["parameters"].startswith(f"{job.prompt}\nNegative prompt: fog\nSteps: 4, CFG scale: 2")


def test_imds_client_uses_tokens_only(imds):
    from fluxer_runtime.imds import Imds

    client = Imds(imds.url)
    identity = client.identity()
    assert (identity.instance_id, identity.instance_type, identity.az) == (
        "i-0123456789abcdef0", "g5.xlarge", "us-east-1b")
    assert client.notice() is None
    imds.recommend_rebalance()
    assert client.notice().kind == "rebalance"
    # The recommendation stays in the metadata: it must not hide Auto Scaling's Terminated after it.
    imds.terminate_in_group()
    assert [n.kind for n in client.notices(lifecycle=True)] == ["rebalance", "terminating"]
    assert [n.kind for n in client.notices()] == ["rebalance"]  # not a fleet node: not asked
    imds.notice_in(120, action="stop")
    notice = client.notice()
    assert notice.kind == "spot" and notice.action == "stop" and notice.time is not None
    assert imds.tokenless_requests == 0


def test_the_imds_watcher_logs_a_failed_poll_but_not_one_cut_short_by_stop(capsys):
    # A poll in flight when the worker shuts down fails (its endpoint may be going too): that is not news.
    from fluxer_runtime.imds import NoticeWatcher

    polls, release = [], threading.Event()

    class FlakyImds:  # fails, answers, then fails again while stop() comes
        def notices(self, lifecycle: bool = False) -> list:
            polls.append(lifecycle)
            if len(polls) == 2:
                return []  # the failure count starts again: the next failure would be logged
            if len(polls) == 3:
                release.wait(5)
            raise OSError("timed out")

    watcher = NoticeWatcher(FlakyImds(), 0.01, lambda notice: None)  # type: ignore[arg-type]
    watcher.start()
    wait_for(lambda: len(polls) == 3, 5, what="a third poll in flight")
    watcher.stop()
    release.set()
    watcher.join(5)
    assert not watcher.is_alive() and len(polls) == 3
    failed = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "IMDS poll failed" in line]
    assert [line["failures"] for line in failed] == [1]


def test_a_model_that_cannot_load_leaves_the_runtime_failed_with_the_reason(
    stack: Stack, tmp_path: Path, monkeypatch
):
    from fluxer_runtime.aws import Queue, Store, client
    from fluxer_runtime.config import load_config
    from fluxer_runtime.pipelines import Engine, detect_device
    from fluxer_runtime.status import Node
    from fluxer_runtime.worker import Worker

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    off = tmp_path / "powered-off"
    cfg = load_config(worker_env(stack, FLUXER_MODEL="sdxl", FLUXER_STATE_FILE=tmp_path / "state.json",
                                 FLUXER_FAILED_POWEROFF_SECONDS=0.2, FLUXER_POWEROFF_COMMAND=f"touch {off}"))
    engine = Engine("sdxl", detect_device("cpu"), "full", str(tmp_path / "models"))
    worker = Worker(cfg, engine, Queue(client("sqs", cfg), stack.queue_url), Store(client("s3", cfg)),
                    Node("i-failed", "g5.xlarge", None))
    # FAILED stays up FLUXER_FAILED_POWEROFF_SECONDS, then halts the node (issue 8, defect 5): a
    # plain exit under Restart=on-failure would only restart the load, and bill, forever
    assert worker.serve() == 1
    assert off.exists()
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["state"] == "FAILED"
    assert "sdxl" in state["stateReason"] and "downloads are off" in state["stateReason"]
    record_key = "fluxer/nodes/i-failed.json"
    record = json.loads(stack.s3.get_object(Bucket=stack.bucket, Key=record_key)["Body"].read())
    assert record["state"] == "FAILED"
    assert "downloads are off" in record["stateReason"]  # the reason is written before power-off
    assert "az" not in record  # no IMDS: unknown fields are omitted, never null
    assert record["bucket"] == stack.bucket and record["prefix"] == "fluxer/"  # where this node writes
