"""What `fluxer runtime status|logs|restart` send over SSM: the status fields, `fluxer-runtime logs`
(a log file, or the journal through a stand-in `journalctl`), `fluxer-runtime restart`, FLUXER_ROOT,
and each job's log.jsonl in S3."""

from __future__ import annotations

import json
import os
import stat
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from conftest import Stack, wait_for
from test_cli import run_cli

LONG = {"width": 512, "height": 512, "steps": 50}


def ts(seconds_ago: float) -> str:
    when = datetime.now(timezone.utc) - timedelta(seconds=seconds_ago)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def line(msg: str, seconds_ago: float = 0, **fields: object) -> str:
    return json.dumps({"ts": ts(seconds_ago), "level": "info", "msg": msg, **fields})


def logs(*args: str, env: dict[str, str]) -> tuple[int, list[str], str, str]:
    """(exit code, stdout lines, the cursor from the last stderr line, stderr)."""
    done = run_cli("logs", *args, env={"FLUXER_ENV_FILE": "/nonexistent", **env}, timeout=30)
    cursor = ""
    tail = done.stderr.splitlines()[-1:] if done.stderr else []
    if tail and tail[0].startswith("fluxer-cursor: "):
        cursor = tail[0].removeprefix("fluxer-cursor: ")
    return done.returncode, done.stdout.splitlines(), cursor, done.stderr


# ----- status ------------------------------------------------------------------------------------


def test_status_shows_the_running_jobs_progress_counters_release_uptime_and_no_gpu_memory_on_cpu(
    stack: Stack, start_worker, gate, tmp_path: Path, monkeypatch
):
    import torch

    def never(*_args: object) -> None:
        raise AssertionError("torch.cuda asked on a CPU node")

    monkeypatch.setattr(torch.cuda, "mem_get_info", never)
    monkeypatch.setattr(torch.cuda, "memory_allocated", never)
    job = stack.job(count=2, **LONG)
    stack.send(job)
    gate.hold_before_image(1)
    root = tmp_path / "node"
    handle = start_worker(FLUXER_RELEASE="0.1.0-abc123", FLUXER_ROOT=root)
    assert gate.reached.wait(30)

    # FLUXER_ROOT alone: the worker wrote its state file there, the script finds it (no
    # FLUXER_STATE_FILE, no env file) and asks the health endpoint the state file names.
    assert (root / "run/fluxer/state.json").is_file()
    status = run_cli("status", env={"FLUXER_ROOT": str(root)})
    assert status.returncode == 0, status.stdout + status.stderr
    health = json.loads(status.stdout)
    assert health["state"] == "BUSY" and health["currentJob"] == job["id"]
    assert health["job"] == {"id": job["id"], "step": 0, "steps": 50, "image": 2, "count": 2,
                             "startedAt": health["job"]["startedAt"]}
    started = datetime.fromisoformat(health["job"]["startedAt"].replace("Z", "+00:00"))
    assert started <= datetime.now(timezone.utc)
    assert health["release"] == "0.1.0-abc123"
    assert health["pid"] == os.getpid()
    assert 0 < health["uptimeSeconds"] < 60
    assert health["gpu"] == {"name": "cpu", "memoryBytes": health["device"]["memoryBytes"],
                             "memoryUsedBytes": None}
    assert health["counters"]["jobs"] == {"succeeded": 0, "failed": 0, "rejected": 0, "cancelled": 0,
                                          "requeued": 0}
    assert health["counters"]["imagesDone"] == health["imagesDone"]

    gate.open()
    stack.wait_state(job["id"], "succeeded")
    # the job is counted once its message is gone, just after its final status
    after = wait_for(lambda: (h := handle.get())["state"] == "READY"
                     and h["counters"]["jobs"]["succeeded"] == 1 and h, 10, what="READY with the job counted")
    assert after["job"] is None and after["currentJob"] is None
    assert after["counters"]["jobs"]["succeeded"] == 1 == after["jobsDone"]
    assert after["counters"]["busySeconds"] == after["busySeconds"] > 0
    assert after["uptimeSeconds"] > health["uptimeSeconds"]


# ----- logs: a log file ---------------------------------------------------------------------------


def test_logs_from_a_file_with_lines_since_and_a_cursor_that_survives_rotation(tmp_path: Path):
    path = tmp_path / "runtime.log"
    old = [line("old one", 3600), "  an old traceback line", line("old two", 3500)]
    recent = [line("recent one", 5), "Traceback (most recent call last):", '  File "x.py", line 1',
              line("recent two", 1)]
    path.write_text("\n".join(old + recent) + "\n")
    env = {"FLUXER_LOG_FILE": str(path)}

    rc, out, cursor, _ = logs(env=env)
    assert rc == 0 and out == old + recent  # verbatim, oldest first, fewer than the default 200
    assert cursor.startswith("file:")
    rc, out, _, _ = logs("--lines", "2", env=env)
    assert out == recent[-2:]
    rc, out, _, _ = logs("--since", "600", env=env)
    assert out == recent  # non-JSON lines keep the time of the line before them: the old one goes
    rc, out, _, _ = logs("--since", ts(3550), "--lines", "3", env=env)
    assert out == recent[-3:]

    # Following: a cursor goes on after what was printed; a line still being written waits.
    with path.open("a") as handle:
        handle.write(line("new one") + "\n" + '{"ts": "partial')
    rc, out, cursor2, _ = logs("--cursor", cursor, env=env)
    assert rc == 0 and [json.loads(t)["msg"] for t in out] == ["new one"]
    with path.open("a") as handle:
        handle.write('"}\n')
    rc, out, cursor3, _ = logs("--cursor", cursor2, env=env)
    assert out == ['{"ts": "partial"}']
    rc, out, cursor3b, _ = logs("--cursor", cursor3, env=env)
    assert out == [] and cursor3b == cursor3

    # Rotated: the old file moved away, a new one in its place: the cursor starts it from 0.
    path.rename(tmp_path / "runtime.log.1")
    path.write_text(line("after rotation") + "\n")
    rc, out, cursor4, _ = logs("--cursor", cursor3, env=env)
    assert [json.loads(t)["msg"] for t in out] == ["after rotation"]
    assert cursor4 != cursor3

    # Bad arguments: exit 2, saying which.
    for args, text in ((["--lines", "0"], "--lines"), (["--since", "yesterday"], "--since"),
                       (["--cursor", "s=abc"], "--cursor"), (["--lines", "many"], "--lines")):
        done = run_cli("logs", *args, env={"FLUXER_ENV_FILE": "/nonexistent", **env})
        assert done.returncode == 2 and text in done.stderr, (args, done.stderr)
    missing = run_cli("logs", env={"FLUXER_ENV_FILE": "/nonexistent",
                                   "FLUXER_LOG_FILE": str(tmp_path / "none")})
    assert missing.returncode == 1 and "cannot read the log file" in missing.stderr


def test_logs_default_to_the_last_200_lines_of_the_file_under_fluxer_root(tmp_path: Path):
    root = tmp_path / "node"
    (root / "var/log/fluxer").mkdir(parents=True)
    lines = [line(f"line {i}") for i in range(250)]
    (root / "var/log/fluxer/runtime.log").write_text("\n".join(lines) + "\n")
    rc, out, cursor, _ = logs(env={"FLUXER_ROOT": str(root)})
    assert rc == 0 and out == lines[-200:]
    rc, out, _, _ = logs("--cursor", cursor, env={"FLUXER_ROOT": str(root)})
    assert out == []


# ----- logs: the journal --------------------------------------------------------------------------

FAKE_JOURNALCTL = """#!{python}
import json, sys
with open({calls!r}, "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
if "--fail" in open({mode!r}).read():
    sys.stderr.write("Failed to open journal\\n")
    sys.exit(1)
if "--empty" in open({mode!r}).read():
    sys.exit(0)
print('{{"ts": "2026-12-01T08:00:00.000Z", "level": "info", "msg": "job started", "job_id": "j1"}}')
print('{{"ts": "2026-12-01T08:00:01.000Z", "level": "info", "msg": "job finished", "job_id": "j1"}}')
print("-- cursor: s=abc;i=2")
"""


def test_logs_from_the_journal_through_journalctl(tmp_path: Path):
    bin_dir, calls, mode = tmp_path / "bin", tmp_path / "calls.jsonl", tmp_path / "mode"
    bin_dir.mkdir()
    mode.write_text("")
    script = bin_dir / "journalctl"
    script.write_text(FAKE_JOURNALCTL.format(python=sys.executable, calls=str(calls), mode=str(mode)))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    # an empty FLUXER_ROOT folder: no log file there, so the journal is the source
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "FLUXER_ROOT": str(tmp_path / "node")}

    def last_call() -> list[str]:
        return json.loads(calls.read_text().splitlines()[-1])

    base = ["-u", "fluxer-runtime", "-o", "cat", "--no-pager", "--show-cursor"]
    rc, out, cursor, _ = logs(env=env)
    assert rc == 0 and cursor == "s=abc;i=2"
    assert [json.loads(t)["msg"] for t in out] == ["job started", "job finished"]  # no cursor line
    assert last_call() == [*base, "-n", "200"]

    rc, out, _, _ = logs("--since", "600", "--lines", "5", env=env)
    args = last_call()
    assert args[:6] == base and args[6] == "--since" and args[8:] == ["-n", "5"]
    assert abs(float(args[7].removeprefix("@")) - (datetime.now(timezone.utc).timestamp() - 600)) < 30

    rc, out, _, _ = logs("--since", "2026-12-01T08:00:00Z", "--cursor", cursor, env=env)
    assert last_call() == [*base, "--since", "@1796112000.000000", "--after-cursor", "s=abc;i=2"]

    # Nothing new: the same cursor comes back, so a follow goes on from where it was.
    mode.write_text("--empty")
    rc, out, again, _ = logs("--cursor", cursor, env=env)
    assert rc == 0 and out == [] and again == cursor
    rc, out, empty_cursor, _ = logs(env=env)  # an empty journal still gives a cursor to go on from
    assert rc == 0 and empty_cursor.startswith("since:")
    mode.write_text("")
    logs("--cursor", empty_cursor, env=env)
    assert last_call()[6] == "--since" and "-n" not in last_call()

    mode.write_text("--fail")
    done = run_cli("logs", env={"FLUXER_ENV_FILE": "/nonexistent", **env})
    assert done.returncode == 1 and "Failed to open journal" in done.stderr
    nothing = run_cli("logs", env={"FLUXER_ENV_FILE": "/nonexistent", "PATH": str(tmp_path / "empty"),
                                   "FLUXER_ROOT": str(tmp_path / "node")})
    assert nothing.returncode == 1 and "no journalctl" in nothing.stderr


# ----- restart and FLUXER_ROOT ----------------------------------------------------------------------


def test_restart_runs_the_configured_command_and_reports_the_previous_runtime(tmp_path: Path):
    root = tmp_path / "node"
    (root / "etc/fluxer").mkdir(parents=True)
    (root / "run/fluxer").mkdir(parents=True)
    marker = tmp_path / "restarted"
    # The env file under FLUXER_ROOT is the one read (FLUXER_ENV_FILE unset).
    (root / "etc/fluxer/runtime.env").write_text(
        f"FLUXER_RESTART_COMMAND='echo again >> {marker}; echo asked the agent >&2'\n")
    (root / "run/fluxer/state.json").write_text(
        json.dumps({"pid": 4242, "startedAt": "2026-12-01T08:00:00.000Z", "state": "DRAINING"}))
    env = {"FLUXER_ROOT": str(root)}
    done = run_cli("restart", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"restarting": True, "previousPid": 4242,
                                       "previousStartedAt": "2026-12-01T08:00:00.000Z"}
    assert marker.read_text() == "again\n" and "asked the agent" in done.stderr

    # FLUXER_STATE_FILE wins over the root's; a failing command: exit 1, its stderr passed on.
    other = tmp_path / "other-state.json"
    other.write_text(json.dumps({"pid": 7, "startedAt": "2026-12-02T00:00:00.000Z"}))
    failed = run_cli("restart", env={**env, "FLUXER_STATE_FILE": str(other),
                                     "FLUXER_RESTART_COMMAND": "echo unit not found >&2; exit 5"})
    assert failed.returncode == 1 and "unit not found" in failed.stderr
    doc = json.loads(failed.stdout)
    assert doc["restarting"] is False and doc["previousPid"] == 7 and "exited 5" in doc["error"]

    # Nothing known about the previous runtime: nulls.
    (root / "run/fluxer/state.json").unlink()
    unknown = run_cli("restart", env=env)
    assert unknown.returncode == 0
    assert json.loads(unknown.stdout) == {"restarting": True, "previousPid": None, "previousStartedAt": None}


def test_fluxer_root_sets_where_the_env_file_and_state_file_are():
    from fluxer_runtime.config import load_config

    cfg = load_config({"FLUXER_ROOT": "/srv/node-1/"})
    assert cfg.env_file == "/srv/node-1/etc/fluxer/runtime.env"
    assert cfg.state_file == "/srv/node-1/run/fluxer/state.json"
    assert cfg.state_file_candidates() == ["/srv/node-1/run/fluxer/state.json"]
    bare = load_config({})
    assert bare.env_file == "/etc/fluxer/runtime.env" and bare.state_file is None
    assert bare.state_file_candidates() == ["/run/fluxer/state.json"]  # SSM's shell on a real node
    assert bare.restart_command == ("systemctl reset-failed fluxer-runtime || true; "
                                    "systemctl restart fluxer-runtime")
    explicit = load_config({"FLUXER_ROOT": "/srv/n", "FLUXER_ENV_FILE": "/x.env",
                            "FLUXER_STATE_FILE": "/s.json"})
    assert explicit.env_file == "/x.env"
    assert explicit.state_file_candidates() == ["/s.json", "/srv/n/run/fluxer/state.json"]


# ----- per-job logs in S3 -------------------------------------------------------------------------


def job_log(stack: Stack, job_id: str) -> list[dict]:
    body = stack.s3.get_object(Bucket=stack.bucket, Key=f"{stack.prefix}jobs/{job_id}/log.jsonl")["Body"]
    return [json.loads(text) for text in body.read().decode().splitlines()]


def has_log(stack: Stack, job_id: str) -> bool:
    return f"{stack.prefix}jobs/{job_id}/log.jsonl" in stack.keys(f"jobs/{job_id}/")


def test_a_succeeded_job_has_its_log_lines_beside_its_status(stack: Stack, start_worker):
    job, other = stack.job(count=2), stack.job()
    stack.send(job)
    stack.send(other)
    start_worker()
    stack.wait_state(job["id"], "succeeded")
    stack.wait_state(other["id"], "succeeded")
    wait_for(lambda: has_log(stack, job["id"]) and has_log(stack, other["id"]), 10, what="log.jsonl")
    lines = job_log(stack, job["id"])
    assert {entry["job_id"] for entry in lines} == {job["id"]}  # its own lines only
    msgs = [entry["msg"] for entry in lines]
    assert msgs[0] == "job received" and msgs[-1] == "job finished"
    assert msgs.count("image generated") == 2 and "job started" in msgs
    assert lines[-1]["state"] == "succeeded"
    head = stack.s3.head_object(Bucket=stack.bucket, Key=f"{stack.prefix}jobs/{job['id']}/log.jsonl")
    assert head["ContentType"] == "application/x-ndjson"


def test_a_job_retried_on_a_second_node_keeps_both_attempts_lines(stack: Stack, start_worker, imds, gate):
    job = stack.job(count=3, **LONG)
    stack.send(job)
    gate.hold_before_image(1)
    first = start_worker(FLUXER_IMDS_URL=imds.url, FLUXER_IMDS_POLL_SECONDS=0.2)
    assert gate.reached.wait(30)
    imds.notice_in(0)  # the node goes away now: the job stops and is requeued
    wait_for(lambda: first.worker.state == "DRAINING", 5, what="notice seen")
    gate.open()
    stack.wait_state(job["id"], "requeued", timeout=10)
    wait_for(lambda: first.result == [0], 10, what="first worker stopped")
    first.health.stop()
    imds.clear()
    assert has_log(stack, job["id"])  # written before the worker stopped (its I/O lane was flushed)
    first_lines = job_log(stack, job["id"])
    assert first_lines[-1]["msg"] == "job finished" and first_lines[-1]["state"] == "requeued"

    start_worker()
    stack.wait_state(job["id"], "succeeded")
    wait_for(lambda: len(job_log(stack, job["id"])) > len(first_lines), 10, what="second attempt's lines")
    lines = job_log(stack, job["id"])
    assert lines[:len(first_lines)] == first_lines  # the first attempt's lines kept, first
    finished = [entry for entry in lines if entry["msg"] == "job finished"]
    assert [(e["attempt"], e["state"]) for e in finished] == [(1, "requeued"), (2, "succeeded")]
    started = [entry["attempt"] for entry in lines if entry["msg"] == "job started"]
    assert started == [1, 2]


def test_gpu_memory_in_use_comes_from_torch_on_cuda(monkeypatch):
    # No GPU here: the CUDA calls are stood in for; the device is what detect_device reports.
    from types import SimpleNamespace

    import torch

    from fluxer_runtime.node_state import NodeState
    from fluxer_runtime.pipelines import DeviceInfo

    node = SimpleNamespace(engine=SimpleNamespace(device=DeviceInfo("cuda", "NVIDIA H200", 150 * 2**30)))
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda: (100 * 2**30, 150 * 2**30))
    assert NodeState._gpu(node) == {"name": "NVIDIA H200", "memoryBytes": 150 * 2**30,
                                    "memoryUsedBytes": 50 * 2**30}

    def broken() -> None:
        raise RuntimeError("CUDA driver busy")

    monkeypatch.setattr(torch.cuda, "mem_get_info", broken)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda: 12345)
    assert NodeState._gpu(node)["memoryUsedBytes"] == 12345
    monkeypatch.setattr(torch.cuda, "memory_allocated", broken)
    assert NodeState._gpu(node)["memoryUsedBytes"] is None
