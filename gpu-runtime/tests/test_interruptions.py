"""Crashes, spot notices and SIGTERM with workers as real processes (`fluxer-runtime serve`)."""

from __future__ import annotations

import signal
import time

from conftest import wait_for

LONG = {"width": 512, "height": 512, "steps": 50}


def receive_ids(stack, wanted: set[str], timeout: float) -> float:
    """Poll like another node would until every job in `wanted` has been receivable; put what
    arrives straight back (visibility 0). Returns the seconds it took."""
    start = time.monotonic()
    seen: set[str] = set()
    while time.monotonic() - start < timeout:
        got = stack.sqs.receive_message(QueueUrl=stack.queue_url, WaitTimeSeconds=1, VisibilityTimeout=0,
                                        MaxNumberOfMessages=10)
        seen |= {job_id for m in got.get("Messages", []) for job_id in wanted if job_id in m["Body"]}
        if seen == wanted:
            return time.monotonic() - start
    raise AssertionError(f"only {seen} of {wanted} receivable within {timeout}s")


def test_kill_9_mid_job_another_worker_finishes_with_one_set_of_outputs(stack, spawn_worker, start_worker):
    job = stack.job(count=6, **LONG)
    stack.send(job)
    first = spawn_worker(FLUXER_VISIBILITY_SECONDS=3, FLUXER_HEARTBEAT_SECONDS=1)
    wait_for(lambda: len(stack.keys(f"jobs/{job['id']}/image-")) >= 1, 40, what="a first image")
    first.terminate(signal.SIGSTOP)  # frozen mid-job, however fast this machine is
    made = stack.keys(f"jobs/{job['id']}/image-")
    first.terminate(signal.SIGKILL)
    assert first.proc.wait(5) == -signal.SIGKILL
    assert 1 <= len(made) < 6
    assert stack.status(job["id"])["state"] == "running"  # the dead node never said anything more

    # Another node: the message comes back once the dead node's visibility runs out.
    start_worker(FLUXER_VISIBILITY_SECONDS=3, FLUXER_HEARTBEAT_SECONDS=1)
    final = stack.wait_state(job["id"], "succeeded", timeout=40)
    assert final["attempt"] == 2
    assert final["node"]["instanceId"] == "local-test-0"
    expected = [f"{stack.prefix}jobs/{job['id']}/image-{i}.png" for i in range(6)]
    assert final["outputs"] == expected
    status_key = f"{stack.prefix}jobs/{job['id']}/status.json"
    log_key = f"{stack.prefix}jobs/{job['id']}/log.jsonl"  # written just after the final status
    wait_for(lambda: log_key in stack.keys(f"jobs/{job['id']}/"), 10, what="the job's log")
    assert stack.keys(f"jobs/{job['id']}/") == sorted([*expected, status_key, log_key])
    assert wait_for(lambda: stack.counts() == (0, 0), 5)


def test_spot_notice_releases_the_job_within_5s_and_it_finishes_elsewhere(
    stack, spawn_worker, start_worker, imds
):
    # A negative prompt doubles the work per step (true CFG): several seconds even on a fast machine.
    job, waiting = stack.job(count=8, negativePrompt="blurry", **LONG), stack.job()
    stack.send(job)
    stack.send(waiting)
    # IMDS polled every second here; bench/runtime_bench.py measures the default (2 s).
    node = spawn_worker(FLUXER_IMDS_URL=imds.url, FLUXER_IMDS_POLL_SECONDS=1)
    assert node.state()["instanceId"] == imds.instance_id
    wait_for(lambda: stack.counts() == (0, 2), 20, what="running + prefetched")

    imds.notice_in(10)  # 10 s left: too little for the remaining images plus the safety margin
    elapsed = receive_ids(stack, {job["id"], waiting["id"]}, 10)
    assert elapsed <= 5, f"released after {elapsed:.1f}s"

    requeued = stack.wait_state(job["id"], "requeued", timeout=5)
    assert requeued["error"]["type"] == "Interrupted" and "spot" in requeued["error"]["message"]
    assert len(requeued["outputs"]) < 8
    assert stack.status(waiting["id"])["state"] == "queued"  # the prefetched job was never started
    assert node.proc.wait(15) == 0
    assert node.state()["state"] == "STOPPED"
    assert imds.tokenless_requests == 0

    imds.clear()
    start_worker()
    # A new worker's start plus the rest of 8 CFG images: ~20 s here, over 40 s on a loaded 2-core machine.
    final = stack.wait_state(job["id"], "succeeded", timeout=120)
    assert final["attempt"] >= 2 and len(final["outputs"]) == 8
    stack.wait_state(waiting["id"], "succeeded")


def test_sigterm_finishes_the_running_job_releases_the_prefetched_one_and_exits(stack, spawn_worker):
    # Six big images: seconds of work, so SIGTERM surely lands while the first job runs.
    running, waiting = stack.job(count=6, **LONG), stack.job()
    stack.send(running)
    stack.send(waiting)
    node = spawn_worker()
    wait_for(lambda: stack.counts() == (0, 2), 20, what="running + prefetched")
    wait_for(lambda: (stack.status(running["id"]) or {}).get("state") == "running", 10)
    node.terminate(signal.SIGTERM)

    took = receive_ids(stack, {waiting["id"]}, 5)  # the prefetched one is handed back at once
    assert took < 3
    # The running one is finished, not handed back: its drain allows FLUXER_DRAIN_SECONDS (90), and
    # a loaded 2-core machine needs 20-40 s for the rest of it, so wait on its end, whatever it is.
    done = stack.wait_state(running["id"], ("succeeded", "requeued", "failed"), timeout=120)
    assert done["state"] == "succeeded", done.get("error")
    assert len(done["outputs"]) == 6
    assert node.proc.wait(10) == 0
    assert stack.status(waiting["id"])["state"] == "queued"
    states = [line.get("state") for line in node.logs() if line["msg"] == "state"]
    assert states[-2:] == ["DRAINING", "STOPPED"]
