"""The node record (schema/node.v1.schema.json): written in every state the runtime passes through,
counters and histograms that survive a restart, queue wait from SQS's SentTimestamp, the spot
notice, and the dead-man's switch. The stack fixture validates every version of every record."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from conftest import Stack, wait_for, worker_env

LONG = {"width": 512, "height": 512, "steps": 50}


def node(instance_id: str) -> Any:
    from fluxer_runtime.status import Node

    return Node(instance_id, "g5.xlarge", "us-east-1b", "use1-az4", "us-east-1", "spot",
                "2026-11-30T08:00:00Z")


def records(stack: Stack, instance_id: str) -> list[dict[str, Any]]:
    return sorted((doc for _, doc in stack.node_versions(instance_id)), key=lambda d: d["seq"])


def latest(stack: Stack, instance_id: str) -> dict[str, Any] | None:
    found = records(stack, instance_id)
    return found[-1] if found else None


def test_histograms_bucket_by_upper_bound_and_merge_by_addition():
    from fluxer_runtime.node_record import GENERATION_BOUNDS, Histogram

    a, b = Histogram(GENERATION_BOUNDS), Histogram(GENERATION_BOUNDS)
    for seconds in (0.05, 0.1, 0.11, 400):
        a.observe(seconds)
    b.observe(1)
    assert a.counts[0] == 2 and a.counts[1] == 1 and a.counts[-1] == 1  # upper bounds are inclusive
    merged = [x + y for x, y in zip(a.doc()["counts"], b.doc()["counts"], strict=True)]
    assert sum(merged) == a.count + b.count == 5
    restored = Histogram(GENERATION_BOUNDS)
    restored.restore(a.doc())
    assert restored.doc() == a.doc()
    other = Histogram(GENERATION_BOUNDS)
    other.restore({**a.doc(), "bounds": [1, 2]})  # another runtime's bounds: dropped, not misfiled
    assert other.count == 0


def test_imds_identity_carries_what_the_record_needs(imds):
    from fluxer_runtime.imds import Imds

    identity = Imds(imds.url).identity()
    assert (identity.az_id, identity.region, identity.lifecycle) == ("use1-az4", "us-east-1", "spot")
    assert identity.launch_time == "2026-11-30T08:00:00Z"
    assert imds.tokenless_requests == 0


def test_records_follow_the_runtime_through_every_state(stack, start_worker, gate):
    gate.hold_before_image(0)
    handle = start_worker(node=node("i-0states"), FLUXER_NODE_RECORD_SECONDS=0.2,
                          FLUXER_RELEASE="0.1.0-abc123")
    job = stack.job(**LONG)
    stack.send(job)
    wait_for(gate.reached.is_set, 30, what="the job on the GPU")
    wait_for(lambda: (latest(stack, "i-0states") or {}).get("state") == "BUSY", 5, what="a BUSY record")
    assert latest(stack, "i-0states")["currentJob"] == job["id"]
    gate.open()
    stack.wait_state(job["id"], "succeeded")
    code, _ = handle.post("drain")
    assert code == 200
    wait_for(lambda: (latest(stack, "i-0states") or {}).get("state") == "DRAINING", 5, what="DRAINING")
    handle.stop()

    history = records(stack, "i-0states")
    states = [doc["state"] for doc in history]
    assert states[:3] == ["STARTING", "LOADING", "READY"]
    assert {"BUSY", "DRAINING"} <= set(states) and states[-1] == "STOPPED"
    assert [doc["seq"] for doc in history] == list(range(1, len(history) + 1))  # +1 per write
    final = history[-1]
    assert final["jobs"] == {"succeeded": 1, "failed": 0, "rejected": 0, "cancelled": 0, "requeued": 0}
    assert final["imagesDone"] == 1 and final["busySeconds"] > 0 and final["currentJob"] is None
    generation = final["histograms"]["generationSeconds"]
    assert generation["count"] == 1 and sum(generation["counts"]) == 1 and generation["sum"] > 0
    assert final["histograms"]["queueWaitSeconds"]["count"] == 1
    assert final["azId"] == "use1-az4" and final["lifecycle"] == "spot" and final["region"] == "us-east-1"
    assert final["launchTime"] == "2026-11-30T08:00:00Z" and final["release"] == "0.1.0-abc123"
    assert final["firstSeenAt"] == history[0]["firstSeenAt"] == final["startedAt"]
    assert "interruption" not in final  # no notice came: omitted, never null


def test_counters_histograms_and_seq_survive_a_restart(stack, start_worker):
    first_seen = "2026-12-01T10:00:00.000Z"
    stack.put_json(f"{stack.prefix}nodes/i-0restart.json",  # what the bootstrap writes at boot
                   {"instanceId": "i-0restart", "state": "BOOTSTRAPPING", "seq": 1,
                    "firstSeenAt": first_seen, "lastSeenAt": first_seen})
    ok, wrong = stack.job(), stack.job(model="sdxl", width=1024, height=1024)
    stack.send(ok)
    stack.send(wrong)
    time.sleep(1.2)  # the queue wait comes from SentTimestamp: at least this long
    first = start_worker(node=node("i-0restart"))
    stack.wait_state(ok["id"], "succeeded")
    stack.wait_state(wrong["id"], "rejected")
    first.stop()
    before = latest(stack, "i-0restart")
    assert before["state"] == "STOPPED" and before["firstSeenAt"] == first_seen
    assert before["jobs"]["succeeded"] == 1 and before["jobs"]["rejected"] == 1
    wait = before["histograms"]["queueWaitSeconds"]
    assert wait["count"] == 1 and wait["sum"] >= 1.0 and wait["counts"][0] == 0  # > 1 s: not bucket ≤ 1

    second = start_worker(node=node("i-0restart"))
    assert second.get()["jobsDone"] == 1  # the health endpoint continues the count too
    again = stack.job()
    stack.send(again)
    stack.wait_state(again["id"], "succeeded")
    second.stop()
    after = latest(stack, "i-0restart")
    assert after["jobs"]["succeeded"] == 2 and after["jobs"]["rejected"] == 1
    assert after["imagesDone"] == 2 and after["busySeconds"] > before["busySeconds"]
    assert after["histograms"]["generationSeconds"]["count"] == 2
    assert after["histograms"]["queueWaitSeconds"]["count"] == 2
    assert after["firstSeenAt"] == first_seen and after["startedAt"] != before["startedAt"]
    seqs = [doc["seq"] for doc in records(stack, "i-0restart")]
    assert seqs == list(range(1, len(seqs) + 1))  # one sequence from the bootstrap's record on


def test_a_spot_notice_goes_into_the_record(stack, start_worker, imds):
    handle = start_worker(node=node("i-0notice"), FLUXER_IMDS_URL=imds.url, FLUXER_IMDS_POLL_SECONDS=0.2)
    imds.notice_in(60, "stop")
    handle.thread.join(20)
    assert handle.result == [0]
    final = latest(stack, "i-0notice")
    assert final["state"] == "STOPPED"
    assert final["interruption"]["action"] == "stop" and final["interruption"]["time"].endswith("Z")
    assert final["interruption"]["noticedAt"] <= final["lastSeenAt"]


def test_the_dead_mans_switch_fails_and_powers_off_a_runtime_that_never_gets_ready(stack, tmp_path):
    from fluxer_runtime.aws import Queue, Store, client
    from fluxer_runtime.config import load_config
    from fluxer_runtime.pipelines import Engine, detect_device
    from fluxer_runtime.worker import Worker

    off = tmp_path / "off"
    cfg = load_config(worker_env(stack, FLUXER_READY_DEADLINE_SECONDS=1,
                                 FLUXER_POWEROFF_COMMAND=f"echo x >> {off}"))
    engine = Engine("tiny", detect_device("cpu"), "full")
    unblock = threading.Event()

    def hanging_load() -> None:  # a model download that never ends
        assert engine.on_download is not None
        engine.on_download()
        unblock.wait(30)

    engine.load = hanging_load  # type: ignore[method-assign]
    worker = Worker(cfg, engine, Queue(client("sqs", cfg), stack.queue_url), Store(client("s3", cfg)),
                    node("i-0deadman"))
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(worker.serve()), daemon=True)
    started = time.monotonic()
    thread.start()
    wait_for(off.exists, 10, what="the power-off command")
    assert 1 <= time.monotonic() - started < 5
    record = latest(stack, "i-0deadman")
    assert record["state"] == "FAILED"  # written before the power-off
    assert "FLUXER_READY_DEADLINE_SECONDS" in record["stateReason"] and "PULLING" in record["stateReason"]
    states = [doc["state"] for doc in records(stack, "i-0deadman")]
    assert states == ["STARTING", "LOADING", "PULLING", "FAILED"]
    assert worker.health()["state"] == "FAILED"

    unblock.set()  # the load finally returns: too late, the node is going down
    thread.join(10)
    assert result == [1]
    assert off.read_text().count("x") == 1  # one power-off, not a second one for the same failure
    assert latest(stack, "i-0deadman")["state"] == "FAILED"


def test_a_runtime_ready_in_time_disarms_the_switch(stack, start_worker, tmp_path):
    off = tmp_path / "off"
    handle = start_worker(node=node("i-0intime"), FLUXER_READY_DEADLINE_SECONDS=0.5,
                          FLUXER_POWEROFF_COMMAND=f"touch {off}")
    time.sleep(1.0)
    assert not off.exists() and handle.get()["state"] == "READY"
    assert json.dumps(latest(stack, "i-0intime")).count("FAILED") == 0


def test_the_release_comes_from_the_installed_environment(tmp_path, monkeypatch):
    from fluxer_runtime import config

    release = tmp_path / "releases" / "0.1.0-abc"
    (release / "venv").mkdir(parents=True)
    (release / ".installed").write_text("0.1.0-abc\n")
    monkeypatch.setattr(config.sys, "prefix", str(release / "venv"))
    assert config.load_config({"FLUXER_ENV_FILE": "/nonexistent"}).release == "0.1.0-abc"
    assert config.load_config({"FLUXER_ENV_FILE": "/nonexistent", "FLUXER_RELEASE": "x"}).release == "x"
