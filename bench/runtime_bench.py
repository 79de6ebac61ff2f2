"""GPU runtime benchmarks (issue 3), on this machine's CPU with the `tiny` model against moto.

  efficiency    images/s of the worker draining a backlog of tiny jobs, against a bare loop that
                calls the same pipeline directly (the ceiling). Target >= 0.95.
  interruption  seconds from a spot notice (loopback IMDSv2) to the running job's message being
                receivable by another consumer. Target <= 5 s.
  overhead      per job, worker wall time minus pipeline time (the runtime's own cost): median, p95.

Run: .venv/bin/python bench/runtime_bench.py [--jobs N] [--trials N]
Prints a table, then one JSON line (also written to bench/results/runtime.json).
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3
from fluxer_runtime.aws import Queue, Store, client
from fluxer_runtime.config import load_config
from fluxer_runtime.contract import parse_job
from fluxer_runtime.imds import Imds, NoticeWatcher
from fluxer_runtime.logs import log
from fluxer_runtime.pipelines import Engine, detect_device
from fluxer_runtime.status import Node
from fluxer_runtime.worker import Worker

REPO = Path(__file__).resolve().parents[1]


def imds_stand_in() -> Any:
    """The tests' loopback IMDSv2 server (gpu-runtime/tests/standins.py)."""
    sys.path.insert(0, str(REPO / "gpu-runtime" / "tests"))
    return importlib.import_module("standins").ImdsStandIn()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    server = str(Path(sys.executable).parent / "moto_server")
    proc = subprocess.Popen([server, "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1)
            return proc, url
        except OSError:
            time.sleep(0.1)
    raise SystemExit("moto server did not start")


class Bench:
    def __init__(self, endpoint: str, engine: Engine) -> None:
        self.endpoint = endpoint
        self.engine = engine
        self.sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
        self.s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")

    def fresh_stack(self) -> tuple[str, str]:
        name = f"bench-{secrets.token_hex(4)}"
        self.s3.create_bucket(Bucket=name)
        return self.sqs.create_queue(QueueName=name)["QueueUrl"], name

    def job(self, bucket: str, **overrides: Any) -> dict[str, Any]:
        doc = {"version": 1, "id": f"{secrets.token_hex(4)}-0000-7000-8000-{secrets.token_hex(6)}",
               "prompt": "a lighthouse at dawn", "model": "tiny", "width": 64, "height": 64, "steps": 4,
               "guidance": 3.5, "seed": 7, "count": 1, "output": {"bucket": bucket, "prefix": "fluxer/"},
               "submittedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        doc.update(overrides)
        return doc

    def worker(self, queue_url: str, bucket: str, **env: str) -> Worker:
        cfg = load_config({
            "FLUXER_ENV_FILE": "/nonexistent", "FLUXER_QUEUE_URL": queue_url, "FLUXER_REGION": "us-east-1",
            "FLUXER_ENDPOINT_URL": self.endpoint, "FLUXER_BUCKET": bucket, "FLUXER_PREFIX": "fluxer/",
            "FLUXER_MODEL": "tiny", "FLUXER_IMDS_URL": "off", "FLUXER_WAIT_SECONDS": "1",
            "FLUXER_VISIBILITY_SECONDS": "30", "FLUXER_HEARTBEAT_SECONDS": "5", **env,
        })
        return Worker(cfg, self.engine, Queue(client("sqs", cfg, read_timeout=30), queue_url),
                      Store(client("s3", cfg)), Node(f"bench-{secrets.token_hex(2)}", "local", None))

    def bare_loop(self, jobs: list[dict[str, Any]]) -> float:
        """Images per second calling the pipeline directly: no queue, no S3, no PNG."""
        parsed = [parse_job(json.dumps(j)) for j in jobs]
        result: list[float] = []

        def run() -> None:  # on a thread, like the worker's generation in this benchmark
            t0 = time.perf_counter()
            for job in parsed:
                for i in range(job.count):
                    self.engine.generate(job, i, lambda step: False)
            result.append(time.perf_counter() - t0)

        thread = threading.Thread(target=run)
        thread.start()
        thread.join()
        return sum(j.count for j in parsed) / result[0]

    def worker_backlog(self, count: int, shape: dict[str, Any]) -> tuple[float, list[float], float]:
        """Images per second of a worker draining `count` queued jobs; per-job overheads; the share
        of the run the pipeline was running (1.0: the GPU never waited on the runtime)."""
        queue_url, bucket = self.fresh_stack()
        jobs = [self.job(bucket, seed=i, **shape) for i in range(count)]
        for start in range(0, len(jobs), 10):
            self.sqs.send_message_batch(QueueUrl=queue_url, Entries=[
                {"Id": str(i), "MessageBody": json.dumps(j)} for i, j in enumerate(jobs[start:start + 10])])
        worker = self.worker(queue_url, bucket)
        lines = io.StringIO()
        log.use(lines)
        worker.load()
        thread = threading.Thread(target=worker.serve)
        t0 = time.perf_counter()
        thread.start()
        while worker.jobs_done < len(jobs):
            time.sleep(0.01)  # a tight poll would steal the GIL from the worker it measures
        elapsed = time.perf_counter() - t0
        worker.request_stop("bench done")
        thread.join(60)
        log.use(sys.stderr)
        finished = [json.loads(line) for line in lines.getvalue().splitlines() if '"job finished"' in line]
        done = [f for f in finished if f["state"] == "succeeded"]
        overheads = [f["wallSeconds"] - f["pipelineSeconds"] for f in done]
        busy = sum(f["pipelineSeconds"] for f in done) / elapsed
        return sum(j["count"] for j in jobs) / elapsed, overheads, busy

    def interruption(self, imds: Any) -> float:
        """Seconds from the notice appearing in IMDS to the job's message being receivable."""
        queue_url, bucket = self.fresh_stack()
        job = self.job(bucket, count=8, width=512, height=512, steps=50)
        self.sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(job))
        worker = self.worker(queue_url, bucket, FLUXER_IMDS_URL=imds.url)  # default 2 s IMDS poll
        log.use(io.StringIO())
        thread = threading.Thread(target=worker.serve)
        thread.start()
        watcher = NoticeWatcher(Imds(imds.url), worker.cfg.imds_poll_seconds, worker.on_notice)
        watcher.start()
        while worker.health()["currentJob"] is None:
            time.sleep(0.01)
        time.sleep(0.5)  # mid-image
        imds.notice_in(10)  # too little time for the rest of the job plus the safety margin
        noticed = time.perf_counter()
        while True:
            got = self.sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1, VisibilityTimeout=30)
            if got.get("Messages"):
                took = time.perf_counter() - noticed
                break
        watcher.stop()
        thread.join(60)
        imds.clear()
        log.use(sys.stderr)
        return took


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=30, help="jobs in each backlog (default 30)")
    parser.add_argument("--rounds", type=int, default=3, help="bare/worker rounds per shape (default 3)")
    parser.add_argument("--trials", type=int, default=3, help="spot-notice trials (default 3)")
    args = parser.parse_args()
    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"})
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

    moto, endpoint = start_moto()
    try:
        engine = Engine("tiny", detect_device("cpu"), "full")
        engine.load()
        bench = Bench(endpoint, engine)
        shapes = {
            "64x64, 4 steps (tiny default)": {},
            "256x256, 20 steps": {"width": 256, "height": 256, "steps": 20},
            "512x512, 28 steps": {"width": 512, "height": 512, "steps": 28},
        }
        bench.bare_loop([bench.job("warm") for _ in range(5)])  # first calls allocate: keep them out
        results: dict[str, Any] = {"efficiency": {}, "machine": f"{os.cpu_count()} CPUs",
                                   "loadAverage": os.getloadavg()[0]}
        overheads: list[float] = []
        for label, shape in shapes.items():
            # Bare and worker runs alternate, and the medians are compared: other work on the
            # machine drifts, and both sides should see the same drift.
            bare_rates, worker_rates, busy_shares, job_overheads = [], [], [], []
            for _ in range(args.rounds):
                bare_jobs = [bench.job("unused", seed=i, **shape) for i in range(args.jobs)]
                bare_rates.append(bench.bare_loop(bare_jobs))
                rate, round_overheads, busy = bench.worker_backlog(args.jobs, shape)
                worker_rates.append(rate)
                busy_shares.append(busy)
                job_overheads += round_overheads
            ceiling, rate = statistics.median(bare_rates), statistics.median(worker_rates)
            overheads += job_overheads if not shape else []
            results["efficiency"][label] = {
                "bareImagesPerSecond": round(ceiling, 2),
                "workerImagesPerSecond": round(rate, 2),
                "ratio": round(rate / ceiling, 3),
                "pipelineBusyShare": round(statistics.median(busy_shares), 3),
                "overheadMedianMs": round(statistics.median(job_overheads) * 1000, 1),
                "overheadP95Ms": round(percentile(job_overheads, 95) * 1000, 1),
            }
        imds = imds_stand_in()
        trials = [bench.interruption(imds) for _ in range(args.trials)]
        results["interruptionSeconds"] = {
            "median": round(statistics.median(trials), 2),
            "max": round(max(trials), 2),
            "trials": [round(t, 2) for t in trials],
        }
        results["overheadMs"] = {"median": round(statistics.median(overheads) * 1000, 1),
                                 "p95": round(percentile(overheads, 95) * 1000, 1)}

        print(f"{'benchmark':<44}{'value':>14}  target")
        for label, row in results["efficiency"].items():
            print(f"{'efficiency ' + label:<44}{row['ratio']:>14.3f}  >= 0.95"
                  f"   ({row['workerImagesPerSecond']} vs {row['bareImagesPerSecond']} images/s,"
                  f" pipeline busy {row['pipelineBusyShare']:.0%} of the run)")
            print(f"{'  per-job overhead median / p95 (ms)':<44}"
                  f"{row['overheadMedianMs']:>7} / {row['overheadP95Ms']:<6}")
        it = results["interruptionSeconds"]
        print(f"{'interruption: notice -> receivable (s)':<44}{it['median']:>14}  <= 5   (max {it['max']})")
        print(json.dumps(results))
        out = REPO / "bench" / "results"
        out.mkdir(exist_ok=True)
        (out / "runtime.json").write_text(json.dumps(results, indent=2))
        return 0
    finally:
        moto.terminate()


if __name__ == "__main__":
    sys.exit(main())
