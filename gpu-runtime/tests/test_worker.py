"""The worker loop against moto: results, progress, rejections, duplicates, resume, cancel,
prefetch, transient and permanent failures. Workers run as threads here (the tiny model is loaded
once); test_interruptions.py and test_cli.py run them as real processes."""

from __future__ import annotations

import io
import json
import threading
import time
from typing import Any

from conftest import Stack, wait_for
from PIL import Image

LONG = {"width": 512, "height": 512, "steps": 50}  # ~0.5 s an image on this CPU: time to act mid-job


def image_at(stack: Stack, key: str) -> Image.Image:
    return Image.open(io.BytesIO(stack.s3.get_object(Bucket=stack.bucket, Key=key)["Body"].read()))


def status_versions(stack: Stack, job_id: str) -> list[dict[str, Any]]:
    key = f"{stack.prefix}jobs/{job_id}/status.json"
    versions = stack.s3.list_object_versions(Bucket=stack.bucket, Prefix=key).get("Versions", [])
    docs = [
        json.loads(stack.s3.get_object(Bucket=stack.bucket, Key=key, VersionId=v["VersionId"])["Body"].read())
        for v in versions
    ]
    return sorted(docs, key=lambda d: d["updatedAt"])


def test_job_yields_pngs_of_the_requested_size_and_succeeds_with_forward_progress(stack, start_worker):
    stack.s3.put_bucket_versioning(Bucket=stack.bucket, VersioningConfiguration={"Status": "Enabled"})
    job = stack.job(width=96, height=80, count=3, steps=30, negativePrompt="blurry")
    stack.send(job)
    start_worker()
    final = stack.wait_state(job["id"], "succeeded")

    keys = [f"{stack.prefix}jobs/{job['id']}/image-{i}.png" for i in range(3)]
    assert final["outputs"] == keys
    assert final["attempt"] == 1
    assert final["progress"] == {"step": 30, "steps": 30, "image": 3, "count": 3}
    assert final["error"] is None
    assert final["node"]["instanceId"] == "local-test-0"
    for key in ("submittedAt", "startedAt", "firstStepAt", "finishedAt"):
        assert final["timings"][key], key
    for i, key in enumerate(keys):
        png = image_at(stack, key)
        assert png.format == "PNG" and png.size == (96, 80)
        assert png.text["prompt"] == job["prompt"] and png.text["negative_prompt"] == "blurry"
        assert png.text["seed"] == str(42 + i) and png.text["model"] == "tiny"
        assert png.text["steps"] == "30" and png.text["guidance"] == "3.5"
        assert f"Seed: {42 + i}" in png.text["parameters"]
    # Different seeds per image: three distinct pictures.
    assert len({image_at(stack, k).tobytes() for k in keys}) == 3

    history = status_versions(stack, job["id"])
    states = [d["state"] for d in history]
    assert states[0] == "queued" and states[1] == "running" and states[-1] == "succeeded"
    assert set(states[1:-1]) == {"running"}
    progress = [(d["progress"]["image"], d["progress"]["step"]) for d in history if "progress" in d]
    assert progress == sorted(progress), "progress went backwards"
    assert wait_for(lambda: stack.counts() == (0, 0), 5)


def test_rejections_are_written_with_the_reason_and_the_worker_goes_on(stack, start_worker):
    cases = {
        "missing": ({"prompt": None}, "'prompt' is a required property"),
        "size16": ({"width": 72}, "width: 72 is not a multiple of 16"),
        "bounds": ({"height": 1024}, "height: 1024 is greater than the maximum of 512"),
        "steps": ({"steps": 0}, "steps: 0 is less than the minimum of 1"),
        "count": ({"count": 9}, "count: 9 is greater than the maximum of 8"),
        "model": ({"model": "flux-pro"}, "model: 'flux-pro' is not one of"),
        "version": ({"version": 2}, "job version 2 is not supported"),
        "served": ({"model": "sdxl", "width": 1024, "height": 1024}, "this node serves 'tiny', not 'sdxl'"),
    }
    ids = {}
    for name, (change, _) in cases.items():
        job = stack.job(**change)
        if change.get("prompt", "") is None:
            del job["prompt"]
        ids[name] = job["id"]
        stack.send(job)
    stack.send("{not json")
    stack.send(json.dumps({"hello": "no id here"}))
    good = stack.job()
    stack.send(good)
    handle = start_worker()

    stack.wait_state(good["id"], "succeeded")
    for name, (_, reason) in cases.items():
        doc = stack.wait_state(ids[name], "rejected", timeout=5)
        assert reason in doc["error"]["message"], (name, doc["error"])
        expected_type = {"version": "UnsupportedVersion", "served": "ModelNotServed"}.get(name, "InvalidJob")
        assert doc["error"]["type"] == expected_type
        assert stack.keys(f"jobs/{ids[name]}/image-") == []
    # Unreadable messages are deleted too: nothing left in the queue, nothing in flight.
    assert wait_for(lambda: stack.counts() == (0, 0), 5)
    assert handle.get()["lastError"]["type"] in ("InvalidJSON", "InvalidJob", "ModelNotServed",
                                                 "UnsupportedVersion")
    assert handle.get()["jobsDone"] == 1


def test_duplicate_delivery_of_a_finished_job_is_acknowledged_not_regenerated(stack, start_worker):
    job = stack.job()
    stack.send(job)
    handle = start_worker()
    first = stack.wait_state(job["id"], "succeeded")
    key = f"{stack.prefix}jobs/{job['id']}/image-0.png"
    etag = stack.s3.head_object(Bucket=stack.bucket, Key=key)["ETag"]

    stack.send(job, queued_status=False)  # the same job delivered again (at-least-once delivery)
    versions = len(stack.status_versions())
    wait_for(lambda: stack.counts() == (0, 0), 10, what="duplicate acknowledged")
    # deleting the message is the last thing the ack does: anything it wrote is there by now
    assert stack.status(job["id"]) == first  # not even rewritten
    assert len(stack.status_versions()) == versions
    assert stack.s3.head_object(Bucket=stack.bucket, Key=key)["ETag"] == etag
    assert handle.get()["jobsDone"] == 1 and handle.get()["imagesDone"] == 1


def test_interrupted_multi_image_job_resumes_from_its_first_missing_image(stack, start_worker, imds, gate):
    job = stack.job(count=4, **LONG)
    stack.send(job)
    gate.hold_before_image(2)
    first = start_worker(FLUXER_IMDS_URL=imds.url, FLUXER_IMDS_POLL_SECONDS=0.2)
    assert gate.reached.wait(30)
    imds.notice_in(0)  # the node goes away now: no time to finish
    wait_for(lambda: first.worker.state == "DRAINING", 5, what="notice seen")
    gate.open()
    requeued = stack.wait_state(job["id"], "requeued", timeout=10)
    done_before = stack.keys(f"jobs/{job['id']}/image-")
    assert len(done_before) == 2
    assert requeued["outputs"] == done_before
    assert requeued["error"]["type"] == "Interrupted"
    etags = {k: stack.s3.head_object(Bucket=stack.bucket, Key=k)["ETag"] for k in done_before}
    wait_for(lambda: first.result == [0], 10, what="first worker stopped")
    first.health.stop()
    imds.clear()

    start_worker()
    final = stack.wait_state(job["id"], "succeeded")
    assert final["attempt"] == 2
    assert final["outputs"] == [f"{stack.prefix}jobs/{job['id']}/image-{i}.png" for i in range(4)]
    for key, etag in etags.items():  # what the first attempt made was kept, not made again
        assert stack.s3.head_object(Bucket=stack.bucket, Key=key)["ETag"] == etag


def test_resumed_images_match_what_an_uninterrupted_run_makes(stack, engine):
    from fluxer_runtime.contract import parse_job

    job = parse_job(json.dumps(stack.job(count=2)))
    again = engine.generate(job, 1, lambda step: False)
    assert again.tobytes() == engine.generate(job, 1, lambda step: False).tobytes()
    assert again.tobytes() != engine.generate(job, 0, lambda step: False).tobytes()


def test_cancel_marker_before_start_and_during_generation(stack, start_worker, gate):
    early = stack.job()
    stack.put_json(f"{stack.prefix}jobs/{early['id']}/cancel", {"by": "pytest"})
    stack.send(early)
    running = stack.job(count=8, **LONG)
    stack.send(running)
    gate.hold_before_image(3)
    handle = start_worker()

    doc = stack.wait_state(early["id"], "cancelled")
    assert doc["outputs"] == [] and stack.keys(f"jobs/{early['id']}/image-") == []

    assert gate.reached.wait(30)
    stack.put_json(f"{stack.prefix}jobs/{running['id']}/cancel", {"by": "pytest"})
    wait_for(lambda: handle.worker._current is not None and handle.worker._current.cancel.is_set(), 10,
             what="the cancel marker seen by the running job")
    gate.open()
    doc = stack.wait_state(running["id"], "cancelled", timeout=10)
    assert len(doc["outputs"]) == 3  # stopped at the first step of image 4
    assert len(stack.keys(f"jobs/{running['id']}/image-")) == len(doc["outputs"])
    assert wait_for(lambda: stack.counts() == (0, 0), 5)


def test_prefetched_message_stays_invisible_while_it_waits(stack, start_worker, gate):
    long_job, next_job = stack.job(count=2), stack.job()
    stack.send(long_job)
    stack.send(next_job)
    gate.hold_before_image(1)
    start_worker(FLUXER_VISIBILITY_SECONDS=2, FLUXER_HEARTBEAT_SECONDS=0.5)
    # Both messages held: one running (held at its second image), one prefetched.
    assert gate.reached.wait(30)
    wait_for(lambda: stack.counts() == (0, 2), 10, what="running + prefetched")
    deadline = time.monotonic() + 5  # well past the 2 s visibility timeout
    while time.monotonic() < deadline:
        got = stack.sqs.receive_message(QueueUrl=stack.queue_url, WaitTimeSeconds=0, VisibilityTimeout=0)
        assert "Messages" not in got, "a held message became visible to another consumer"
        time.sleep(0.2)
    assert stack.status(next_job["id"])["state"] == "queued"
    gate.open()
    stack.wait_state(long_job["id"], "succeeded", timeout=40)
    done = stack.wait_state(next_job["id"], "succeeded")
    assert done["attempt"] == 1  # never delivered to anyone else


def test_a_job_naming_another_location_is_rejected_under_the_nodes_own_prefix(stack, start_worker):
    # issue 8, defect 2: before, the worker wrote wherever the message said
    other = f"{stack.bucket}-elsewhere"
    stack.s3.create_bucket(Bucket=other)
    foreign = stack.job(output={"bucket": other, "prefix": "loot/"})
    wrong_prefix = stack.job(output={"bucket": stack.bucket, "prefix": "other/"})
    after = stack.job()
    for job in (foreign, wrong_prefix, after):
        stack.send(job)
    start_worker()
    stack.wait_state(after["id"], "succeeded")
    for job in (foreign, wrong_prefix):
        doc = stack.wait_state(job["id"], "rejected")
        assert doc["error"]["type"] == "OutputLocationMismatch"
        assert stack.bucket in doc["error"]["message"] and stack.prefix in doc["error"]["message"]
    assert stack.s3.list_objects_v2(Bucket=other).get("KeyCount", 0) == 0
    assert [k for k in stack.keys_anywhere() if not k.startswith(stack.prefix)] == []
    assert wait_for(lambda: stack.counts() == (0, 0), 5)


def test_a_permanent_error_fails_the_job_once_instead_of_retrying_it(stack, start_worker):
    # issue 8, defect 6: NoSuchBucket was retried on every receive into the dead-letter queue
    missing = f"{stack.bucket}-gone"
    job = stack.job(output={"bucket": missing, "prefix": stack.prefix})
    stack.send(job, queued_status=False)
    handle = start_worker(FLUXER_BUCKET=missing)
    wait_for(lambda: stack.counts() == (0, 0), 20, what="message deleted, not released")
    error = handle.get()["lastError"]
    assert error["type"] in ("NoSuchBucket", "ClientError") and "not retried" in error["message"]
    assert error["jobId"] == job["id"]


def test_a_job_that_raises_fails_and_the_worker_goes_on(stack, start_worker, engine, monkeypatch):
    real = engine.generate

    def generate(job, index, on_step):
        if job.prompt == "explode":
            raise ValueError("the pipeline cannot draw this")
        return real(job, index, on_step)

    monkeypatch.setattr(engine, "generate", generate)
    bad, good = stack.job(prompt="explode"), stack.job()
    stack.send(bad)
    stack.send(good)
    start_worker()
    failed = stack.wait_state(bad["id"], "failed")
    assert failed["error"] == {"type": "ValueError", "message": "the pipeline cannot draw this"}
    stack.wait_state(good["id"], "succeeded")
    assert wait_for(lambda: stack.counts() == (0, 0), 5)


def test_out_of_memory_steps_the_memory_policy_up_and_retries(stack, start_worker, engine, monkeypatch):
    import torch

    real = engine.generate
    calls = []

    def generate(job, index, on_step):
        calls.append(engine.policy)
        if len(calls) == 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(job, index, on_step)

    monkeypatch.setattr(engine, "generate", generate)
    job = stack.job()
    stack.send(job)
    handle = start_worker()
    final = stack.wait_state(job["id"], "succeeded", timeout=20)
    assert final["attempt"] == 2
    assert calls == ["full", "fp8"]
    assert handle.get()["memoryPolicy"] == "fp8"
    assert handle.get()["lastError"]["type"] == "OutOfMemory"


def test_job_past_its_deadline_fails_without_running(stack, start_worker):
    job = stack.job(deadline="2020-01-01T00:00:00Z")
    stack.send(job)
    start_worker()
    doc = stack.wait_state(job["id"], "failed")
    assert doc["error"]["type"] == "DeadlineExceeded"
    assert stack.keys(f"jobs/{job['id']}/image-") == []


def test_health_node_record_drain_and_resume(stack, start_worker, imds):
    from fluxer_runtime.status import Node

    handle = start_worker(node=Node("i-0123456789abcdef0", "g5.xlarge", "us-east-1b"),
                          FLUXER_NODE_RECORD_SECONDS=0.3)
    health = handle.get()
    assert health["state"] == "READY" and health["model"] == "tiny"
    assert health["device"]["name"] == "cpu" and health["device"]["memoryBytes"] > 0
    assert set(health) >= {"state", "model", "device", "currentJob", "jobsDone", "imagesDone", "lastError",
                           "version", "instanceId", "startedAt"}

    code, drained = handle.post("drain")
    assert code == 200 and drained["state"] == "DRAINING"
    job = stack.job()
    stack.send(job)
    time.sleep(2)
    assert stack.status(job["id"])["state"] == "queued"  # a drained node takes nothing
    code, resumed = handle.post("resume")
    assert code == 200 and resumed["state"] in ("READY", "BUSY")
    stack.wait_state(job["id"], "succeeded")

    key = f"{stack.prefix}nodes/i-0123456789abcdef0.json"

    def record() -> dict[str, Any] | None:
        doc = json.loads(stack.s3.get_object(Bucket=stack.bucket, Key=key)["Body"].read())
        return doc if doc["jobs"]["succeeded"] == 1 else None

    doc = wait_for(record, 5, 0.1, "node record")
    assert doc["instanceType"] == "g5.xlarge" and doc["az"] == "us-east-1b" and doc["stack"] == "test"
    assert doc["imagesDone"] == 1 and doc["busySeconds"] > 0 and doc["model"] == "tiny"
    assert doc["lastSeenAt"] >= doc["startedAt"]
    assert doc["bucket"] == stack.bucket and doc["prefix"] == stack.prefix


def test_spot_notice_with_time_to_spare_finishes_the_job_then_stops(stack, start_worker, imds, gate):
    job, queued = stack.job(count=2, **LONG), stack.job()
    stack.send(job)
    stack.send(queued)
    gate.hold_before_image(1)
    handle = start_worker(FLUXER_IMDS_URL=imds.url, FLUXER_IMDS_POLL_SECONDS=0.2)
    assert gate.reached.wait(30)
    wait_for(lambda: stack.counts() == (0, 2), 10, what="running + prefetched")
    imds.notice_in(300)
    wait_for(lambda: handle.worker.state == "DRAINING", 5, what="notice seen")
    gate.open()
    assert stack.wait_state(job["id"], "succeeded", timeout=20)["attempt"] == 1
    wait_for(lambda: handle.result == [0], 10, what="worker stopped")
    assert handle.worker.state == "STOPPED"
    # The prefetched job was handed back untouched, for another node.
    assert stack.status(queued["id"])["state"] == "queued"
    # SQS's counts are approximate (moto's lagged a moment on CI's loaded machine): the released
    # message must show visible within 2 s, before its 5 s visibility timeout could bring it back.
    wait_for(lambda: stack.counts() == (1, 0), 2, what="the prefetched message visible again")
    assert imds.tokenless_requests == 0  # IMDSv2 only


def test_rebalance_recommendation_drains_without_stopping(stack, start_worker, imds):
    handle = start_worker(FLUXER_IMDS_URL=imds.url, FLUXER_IMDS_POLL_SECONDS=0.2)
    imds.recommend_rebalance()
    wait_for(lambda: handle.get()["state"] == "DRAINING", 5, what="DRAINING")
    assert "rebalance" in handle.get()["stateReason"]
    assert handle.thread.is_alive()


def test_the_imds_watcher_stops_with_its_worker(stack, start_worker, imds):
    # It used to poll on after its worker stopped, until the interpreter exited: later tests' notices
    # reached stopped workers, and its failures printed after pytest's summary.
    handle = start_worker(FLUXER_IMDS_URL=imds.url, FLUXER_IMDS_POLL_SECONDS=0.2)
    watcher = next(t for t in handle.worker._threads if t.name == "imds-watcher")
    assert watcher.is_alive()
    handle.stop()
    watcher.join(5)
    assert not watcher.is_alive()


def test_a_rebalance_without_a_notice_resumes_after_the_bound(stack, start_worker, imds):
    # issue 8, defect 5: before, a recommendation left the node DRAINING, billed, forever
    handle = start_worker(FLUXER_IMDS_URL=imds.url, FLUXER_IMDS_POLL_SECONDS=0.2, FLUXER_REBALANCE_SECONDS=1)
    imds.recommend_rebalance()
    wait_for(lambda: handle.get()["state"] == "DRAINING", 5, what="DRAINING")
    wait_for(lambda: handle.get()["state"] == "READY", 10, what="READY again after the bound")
    job = stack.job()
    stack.send(job)
    stack.wait_state(job["id"], "succeeded")


def test_a_rebalance_with_action_poweroff_halts_the_node_after_the_bound(stack, start_worker, imds, tmp_path):
    off = tmp_path / "powered-off"
    handle = start_worker(FLUXER_IMDS_URL=imds.url, FLUXER_IMDS_POLL_SECONDS=0.2, FLUXER_REBALANCE_SECONDS=1,
                          FLUXER_REBALANCE_ACTION="poweroff", FLUXER_POWEROFF_COMMAND=f"touch {off}")
    imds.recommend_rebalance()
    wait_for(lambda: off.exists(), 15, what="the power-off command")
    handle.thread.join(10)
    assert handle.result == [0]


def test_the_heartbeat_keeps_a_message_invisible_while_s3_calls_hang(stack, start_worker, gate, monkeypatch):
    # issue 8, defect 4: the visibility heartbeat shared a thread with cancel checks and node-record
    # writes, so one S3 call hanging for a minute let the message reappear under a running job
    job = stack.job()
    gate.hold_before_image(0)
    stack.send(job)
    handle = start_worker(FLUXER_VISIBILITY_SECONDS=3, FLUXER_HEARTBEAT_SECONDS=1)
    assert gate.reached.wait(30)
    hung = threading.Event()
    release = threading.Event()
    real_exists = handle.worker.store.exists

    def exists(bucket, key):
        if key.endswith("/cancel"):
            hung.set()
            release.wait(30)  # the cancel check hangs, as an S3 call can under a network fault
        return real_exists(bucket, key)

    monkeypatch.setattr(handle.worker.store, "exists", exists)
    assert hung.wait(10)
    # Watch for three visibility timeouts: the message must never become receivable.
    end = time.monotonic() + 9
    while time.monotonic() < end:
        assert stack.counts()[0] == 0, "the message reappeared while its job was running"
        time.sleep(0.2)
    release.set()
    gate.open()
    stack.wait_state(job["id"], "succeeded")
