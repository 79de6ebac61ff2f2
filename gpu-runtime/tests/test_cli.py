"""The `fluxer-runtime` console script as the fluxer CLI drives it over SSM, and a job sent by a
client nobody here wrote (the AWS CLI)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from conftest import VENV_BIN, Stack, wait_for, worker_env
from PIL import Image


def run_cli(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV_BIN / "fluxer-runtime"), *args], env={**os.environ, **(env or {})},
                          capture_output=True, text=True, timeout=timeout)


def test_job_sent_with_the_aws_cli_is_processed_and_the_control_commands_work(
    stack: Stack, spawn_worker, tmp_path: Path
):
    secret = "hf_test_token_value_that_must_never_be_logged"
    stack.ssm.put_parameter(Name="/fluxer/test/hf-token", Value=secret, Type="SecureString")
    node = spawn_worker(wait_ready=False, FLUXER_HF_TOKEN_PARAMETER="/fluxer/test/hf-token")
    states: list[str] = []

    def ready() -> bool:
        state = node.state().get("state")
        if state and (not states or states[-1] != state):
            states.append(state)
        return state == "READY"

    wait_for(ready, 60, 0.02, "READY")
    took = time.monotonic() - node.started
    assert took < 30, f"start-up to READY took {took:.1f}s"
    assert set(states) <= {"STARTING", "LOADING", "READY"}
    assert node.state()["healthUrl"] == f"http://127.0.0.1:{node.state()['healthPort']}"

    job = stack.job(count=2, width=128, height=64)
    body = tmp_path / "job.json"
    body.write_text(json.dumps(job))
    sent = subprocess.run(
        [str(VENV_BIN / "aws"), "sqs", "send-message", "--endpoint-url", stack.endpoint,
         "--region", "us-east-1", "--queue-url", stack.queue_url, "--message-body", f"file://{body}"],
        capture_output=True, text=True, timeout=60,
    )
    assert sent.returncode == 0, sent.stderr
    final = stack.wait_state(job["id"], "succeeded", timeout=30)
    assert len(final["outputs"]) == 2
    image = Image.open(stack.s3.get_object(Bucket=stack.bucket, Key=final["outputs"][1])["Body"])
    assert image.size == (128, 64)

    status = node.cli("status")
    assert status.returncode == 0, status.stdout + status.stderr
    health = json.loads(status.stdout)
    assert health["state"] == "READY" and health["jobsDone"] == 1 and health["imagesDone"] == 2
    assert health["instanceId"].startswith("local-")

    drained = node.cli("drain")
    assert drained.returncode == 0 and json.loads(drained.stdout)["state"] == "DRAINING"
    status = node.cli("status")
    assert status.returncode == 1 and json.loads(status.stdout)["state"] == "DRAINING"  # not serving
    resumed = node.cli("resume")
    assert resumed.returncode == 0 and json.loads(resumed.stdout)["state"] == "READY"

    logs = node.log_path.read_text()
    assert secret not in logs
    assert any(line["msg"] == "Hugging Face token read" for line in node.logs())
    assert all("job_id" in line for line in node.logs() if line["msg"] in ("job started", "job finished"))

    # Idle SIGTERM: gone within a couple of seconds (the long poll is 1 s here).
    stopped = time.monotonic()
    node.terminate(signal.SIGTERM)
    assert node.proc.wait(10) == 0
    assert time.monotonic() - stopped < 3
    assert node.state()["state"] == "STOPPED"
    unreachable = node.cli("status")
    assert unreachable.returncode == 3 and "not reachable" in json.loads(unreachable.stdout)["error"]


def test_selftest_writes_a_png_and_prints_timings(tmp_path: Path):
    out = tmp_path / "nested" / "self.png"
    result = run_cli("selftest", "--out", str(out), "--device", "cpu")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)  # stdout holds the one JSON document, logs go to stderr
    assert report["ok"] is True and report["model"] == "tiny" and report["out"] == str(out)
    assert report["generateSeconds"] > 0 and report["loadSeconds"] > 0 and report["steps"] == 4
    image = Image.open(out)
    assert image.size == (report["width"], report["height"]) == (64, 64)
    assert image.text["model"] == "tiny" and "selftest" in image.text["prompt"]


def test_version_and_usage_errors(stack: Stack):
    version = run_cli("version")
    assert version.returncode == 0 and version.stdout.strip() == "0.1.0"

    missing = run_cli("serve", env={**worker_env(stack), "FLUXER_QUEUE_URL": ""})
    assert missing.returncode == 2 and "FLUXER_QUEUE_URL" in missing.stderr

    bad = run_cli("serve", env={**worker_env(stack), "FLUXER_VISIBILITY_SECONDS": "soon"})
    assert bad.returncode == 2 and "FLUXER_VISIBILITY_SECONDS='soon'" in bad.stderr
