"""Weights pulled at boot (fluxer_runtime/weights.py) against moto: a saved tiny pipeline plus files
of random bytes pushed under `models/tiny/` as `fluxer models push` does (upload here with boto3:
the CLI's push is tested on its own side), then real Workers pull, verify, load and run a job.

Downloads are counted on the worker's own S3 client (botocore's provide-client-params event): every
GetObject it sends, with its key and range. The first pull of each test asserts the count is not
zero, so a later "nothing downloaded" cannot pass by counting the wrong client."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import SCHEMA_DIR, Stack, wait_for, worker_env

MANIFEST_SCHEMA = json.loads((SCHEMA_DIR / "model-manifest.v1.schema.json").read_text(encoding="utf-8"))
MIB = 1024**2
# Sizes chosen around the 1 MiB ranges the workers here use: several ranges, one short tail, an
# exact multiple, one range, and an empty file (a plain GET: an empty object has no byte range).
RANDOM_FILES = {"extra/a.bin": 3 * MIB + 12345, "extra/b.bin": 2 * MIB, "extra/c.bin": 70_000,
                "extra/empty.txt": 0}


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fluxer_runtime.tiny import save_tiny_pipeline

    folder = save_tiny_pipeline(tmp_path_factory.mktemp("tiny") / "model")
    for path, size in RANDOM_FILES.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(os.urandom(size))
    return folder


def push(stack: Stack, folder: Path, model: str = "tiny") -> bytes:
    """What `fluxer models push DIR --model NAME` leaves in the bucket: every file under files/ with
    its sha256 in user metadata, then the manifest, last. Returns the manifest's bytes."""
    files = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        stack.s3.put_object(Bucket=stack.bucket, Key=f"{stack.prefix}models/{model}/files/{rel}", Body=data,
                            Metadata={"sha256": digest})
        files.append({"path": rel, "size": len(data), "sha256": digest})
    manifest = {"version": 1, "model": model, "createdAt": datetime.now(timezone.utc).isoformat(),
                "totalBytes": sum(f["size"] for f in files), "files": files}
    jsonschema.Draft202012Validator(MANIFEST_SCHEMA).validate(manifest)
    body = json.dumps(manifest, indent=2).encode()
    stack.s3.put_object(Bucket=stack.bucket, Key=f"{stack.prefix}models/{model}/manifest.json", Body=body)
    return body


@dataclass
class Booted:
    worker: Any
    thread: threading.Thread
    gets: list[tuple[str, str | None]]  # (key, Range) of every GetObject the worker's client sent
    snapshots: list[dict[str, Any]]  # the health document at each weights GET
    result: list[int] = field(default_factory=list)

    def file_gets(self) -> list[str]:
        return [key.split("/files/", 1)[1] for key, _ in self.gets if "/models/tiny/files/" in key]

    def wait(self, states: tuple[str, ...] = ("READY", "FAILED", "STOPPED")) -> str:
        return str(wait_for(lambda: self.worker.state if self.worker.state in states else None, 60,
                            what=f"worker in {states}"))

    def stop(self) -> None:
        if self.thread.is_alive():
            self.worker.request_stop("test")
            self.thread.join(30)


@pytest.fixture
def boot(stack: Stack, tmp_path: Path) -> Iterator[Callable[..., Booted]]:
    """A Worker on a thread with its own fresh tiny Engine (nothing loaded: it loads what it pulls),
    the weights folder tmp_path/weights shared by every worker of the test (a restart)."""
    from fluxer_runtime.aws import Queue, Store, client
    from fluxer_runtime.config import load_config
    from fluxer_runtime.pipelines import Engine, detect_device
    from fluxer_runtime.status import Node
    from fluxer_runtime.worker import Worker

    booted: list[Booted] = []

    def start(**overrides: Any) -> Booted:
        index = len(booted)
        env = {"FLUXER_WEIGHTS_DIR": tmp_path / "weights", "FLUXER_PULL_PART_MIB": 1,
               "FLUXER_PULL_CONCURRENCY": 4, "FLUXER_STATE_FILE": tmp_path / f"state-{index}.json",
               **overrides}
        cfg = load_config(worker_env(stack, **env))
        s3 = client("s3", cfg)
        gets: list[tuple[str, str | None]] = []
        snapshots: list[dict[str, Any]] = []
        holder: list[Any] = []

        def on_get(params: dict[str, Any], **_: Any) -> None:
            gets.append((params["Key"], params.get("Range")))
            if "/files/" in params["Key"] and holder:
                snapshots.append(holder[0].health())

        s3.meta.events.register("provide-client-params.s3.GetObject", on_get)
        engine = Engine("tiny", detect_device("cpu"), "full", cfg.model_dir)
        worker = Worker(cfg, engine, Queue(client("sqs", cfg, read_timeout=30), str(cfg.queue_url)),
                        Store(s3), Node(f"local-weights-{index}", "local", None))
        holder.append(worker)
        handle = Booted(worker, threading.Thread(target=lambda: None), gets, snapshots)
        handle.thread = threading.Thread(target=lambda: handle.result.append(worker.serve()), daemon=True)
        handle.thread.start()
        booted.append(handle)
        return handle

    yield start
    for handle in booted:
        handle.stop()


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def node_states(stack: Stack, instance_id: str) -> list[dict[str, Any]]:
    return [doc for _, doc in stack.node_versions(instance_id)]


def run_job(stack: Stack) -> dict[str, Any]:
    job = stack.job()
    stack.send(job)
    return stack.wait_state(job["id"], ("succeeded", "failed"))


def test_a_pushed_model_is_pulled_verified_and_loaded_from_its_folder(stack, boot, tiny_dir, tmp_path):
    manifest = push(stack, tiny_dir)
    doc = json.loads(manifest)
    node = boot()
    assert node.wait() == "READY", node.worker.health()

    weights = tmp_path / "weights"
    assert node.worker.engine.model_dir == str(weights)
    # Every file in place with the pushed bytes; only files, the marker, nothing half-done.
    for entry in doc["files"]:
        assert sha256_of(weights / entry["path"]) == entry["sha256"], entry["path"]
    assert not list(weights.rglob("*.partial")) and not (weights / ".pulling").exists()
    marker = json.loads((weights / ".verified").read_text())
    assert marker["manifestSha256"] == hashlib.sha256(manifest).hexdigest()
    assert sorted(marker["files"]) == [f["path"] for f in doc["files"]]

    # Ranged GETs: 1 MiB parts (a.bin in 4, b.bin in exactly 2), a plain GET for the empty file.
    ranges = {key.rsplit("/files/", 1)[1]: [] for key, _ in node.gets if "/files/" in key}
    for key, byte_range in node.gets:
        if "/files/" in key:
            ranges[key.rsplit("/files/", 1)[1]].append(byte_range)
    assert sorted(ranges["extra/a.bin"]) == [f"bytes={i * MIB}-{min((i + 1) * MIB, 3 * MIB + 12345) - 1}"
                                             for i in range(4)]
    assert sorted(ranges["extra/b.bin"]) == ["bytes=0-1048575", "bytes=1048576-2097151"]
    assert ranges["extra/empty.txt"] == [None]
    assert set(ranges) == {f["path"] for f in doc["files"]}

    # PULLING with bytes moving: with 4 ranges in flight, the 5th GET starts only after one landed.
    total = doc["totalBytes"]
    moving = [s for s in node.snapshots if s["state"] == "PULLING" and 0 < s["pull"]["bytesDone"] < total]
    assert moving, node.snapshots[:6]
    assert moving[0]["pull"]["bytesTotal"] == total and moving[0]["pull"]["files"] == len(doc["files"])
    records = node_states(stack, "local-weights-0")
    states = [r["state"] for r in records]
    assert [s for i, s in enumerate(states) if i == 0 or states[i - 1] != s][:4] == \
        ["STARTING", "PULLING", "LOADING", "READY"], states  # a long pull rewrites PULLING every 10 s
    pulling = records[1]
    assert pulling["stateReason"] == f"pulling {len(doc['files'])} files, {total / 1e6:.1f} MB"
    assert pulling["pull"]["bytesTotal"] == total and pulling["pull"]["filesDone"] == 0
    loading = next(r for r in records if r["state"] == "LOADING")
    assert loading["pull"]["bytesDone"] == total and loading["pull"]["filesDone"] == len(doc["files"])
    state_file = json.loads((tmp_path / "state-0.json").read_text())
    assert state_file["pull"]["bytesDone"] == state_file["pull"]["bytesTotal"] == total

    final = run_job(stack)
    assert final["state"] == "succeeded", final
    assert node.worker.engine.pipe is not None


def test_a_corrupted_object_fails_the_runtime_and_nothing_is_loaded(stack, boot, tiny_dir, tmp_path):
    manifest = json.loads(push(stack, tiny_dir))
    expected = next(f["sha256"] for f in manifest["files"] if f["path"] == "extra/a.bin")
    corrupt = bytearray((tiny_dir / "extra/a.bin").read_bytes())
    corrupt[2 * MIB + 7] ^= 0xFF  # one byte in the third range, the object's size unchanged
    key = f"{stack.prefix}models/tiny/files/extra/a.bin"
    stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=bytes(corrupt), Metadata={"sha256": expected})
    powered_off = tmp_path / "powered-off"

    node = boot(FLUXER_FAILED_POWEROFF_SECONDS=0, FLUXER_POWEROFF_COMMAND=f"touch {powered_off}")
    assert node.wait() == "FAILED"
    node.thread.join(30)
    got = hashlib.sha256(corrupt).hexdigest()
    reason = f"weights extra/a.bin: sha256 mismatch (expected {expected}, got {got})"
    assert node.worker.health()["stateReason"] == reason
    assert node.worker.last_error["type"] == "WeightsError"
    assert node.result == [1] and powered_off.exists()  # FAILED's power-off rule, as for a bad load
    assert node.worker.engine.pipe is None and node.worker.engine.model_dir is None  # nothing loaded

    weights = tmp_path / "weights"
    assert not (weights / ".verified").exists()
    assert not (weights / "extra/a.bin").exists() and not list(weights.rglob("*.partial"))
    records = node_states(stack, "local-weights-0")
    assert [r["state"] for r in records][-1] == "FAILED" and records[-1]["stateReason"] == reason
    assert "LOADING" not in [r["state"] for r in records]


def test_a_missing_object_fails_the_runtime_naming_its_key(stack, boot, tiny_dir, tmp_path):
    push(stack, tiny_dir)
    key = f"{stack.prefix}models/tiny/files/transformer/diffusion_pytorch_model.safetensors"
    stack.s3.delete_object(Bucket=stack.bucket, Key=key)

    node = boot()
    assert node.wait() == "FAILED"
    reason = node.worker.health()["stateReason"]
    assert reason == (f"weights transformer/diffusion_pytorch_model.safetensors: object "
                      f"s3://{stack.bucket}/{key} is missing")
    assert node.worker.engine.pipe is None and not (tmp_path / "weights" / ".verified").exists()


def test_a_restart_with_the_same_manifest_downloads_nothing_and_loads(stack, boot, tiny_dir, tmp_path):
    manifest = push(stack, tiny_dir)
    first = boot()
    assert first.wait() == "READY"
    assert len(first.file_gets()) >= len(json.loads(manifest)["files"])  # the counter sees the pull
    first.stop()

    second = boot()
    assert second.wait() == "READY", second.worker.health()
    assert second.file_gets() == []
    manifest_gets = [k for k, _ in second.gets if k.endswith("models/tiny/manifest.json")]
    assert manifest_gets == [f"{stack.prefix}models/tiny/manifest.json"]  # the manifest alone is read
    assert "PULLING" not in [r["state"] for r in node_states(stack, "local-weights-1")]
    assert second.worker.health()["pull"] == {"bytesDone": 0, "bytesTotal": 0, "files": 0, "filesDone": 0,
                                              "reusedFiles": len(json.loads(manifest)["files"]),
                                              "seconds": second.worker.health()["pull"]["seconds"]}
    assert second.worker.engine.model_dir == str(tmp_path / "weights")
    assert run_job(stack)["state"] == "succeeded"

    # A file changed on disk since it was verified (same size, new mtime) is pulled again, alone.
    second.stop()
    damaged = tmp_path / "weights" / "extra" / "c.bin"
    damaged.write_bytes(b"\0" * damaged.stat().st_size)
    third = boot()
    assert third.wait() == "READY"
    assert third.file_gets() == ["extra/c.bin"]
    assert sha256_of(damaged) == sha256_of(tiny_dir / "extra" / "c.bin")


def test_a_new_push_pulls_only_the_changed_file_and_drops_removed_ones(stack, boot, tiny_dir, tmp_path):
    push(stack, tiny_dir)
    first = boot()
    assert first.wait() == "READY" and first.file_gets()
    first.stop()

    changed = tmp_path / "push-2"
    import shutil

    shutil.copytree(tiny_dir, changed)
    (changed / "extra" / "b.bin").write_bytes(os.urandom(MIB + 5))  # new content, new size
    (changed / "extra" / "c.bin").unlink()  # gone from the new push
    manifest = push(stack, changed)
    stack.s3.delete_object(Bucket=stack.bucket, Key=f"{stack.prefix}models/tiny/files/extra/c.bin")

    second = boot()
    assert second.wait() == "READY", second.worker.health()
    assert sorted(set(second.file_gets())) == ["extra/b.bin"]
    weights = tmp_path / "weights"
    assert sha256_of(weights / "extra" / "b.bin") == sha256_of(changed / "extra" / "b.bin")
    assert not (weights / "extra" / "c.bin").exists()
    marker = json.loads((weights / ".verified").read_text())
    assert marker["manifestSha256"] == hashlib.sha256(manifest).hexdigest()
    assert "extra/c.bin" not in marker["files"]
    records = node_states(stack, "local-weights-1")
    pulling = next(r for r in records if r["state"] == "PULLING")
    assert pulling["stateReason"] == f"pulling 1 file, {(MIB + 5) / 1e6:.1f} MB"
    assert pulling["pull"]["reusedFiles"] == len(json.loads(manifest)["files"]) - 1
    assert run_job(stack)["state"] == "succeeded"


def test_no_manifest_leaves_the_model_where_it_was(stack, boot, tmp_path):
    node = boot()
    assert node.wait() == "READY"
    assert node.worker.engine.model_dir is None and node.worker.health()["pull"] is None
    assert not (tmp_path / "weights").exists()
    assert "PULLING" not in [r["state"] for r in node_states(stack, "local-weights-0")]


def test_a_saved_tiny_pipeline_renders_the_same_pixels_as_the_built_one(engine, tiny_dir):
    from conftest import uuid7

    from fluxer_runtime.contract import parse_job
    from fluxer_runtime.pipelines import Engine, detect_device

    loaded = Engine("tiny", detect_device("cpu"), "full", str(tiny_dir))
    loaded.load()
    job = parse_job(json.dumps({
        "version": 1, "id": uuid7(), "prompt": "a lighthouse", "model": "tiny", "width": 64, "height": 64,
        "steps": 4, "guidance": 3.5, "seed": 7, "count": 1, "output": {"bucket": "bucket", "prefix": ""},
        "submittedAt": "2026-01-01T00:00:00Z", "submittedBy": "pytest"}))
    a = loaded.generate(job, 0, lambda step: False)
    b = engine.generate(job, 0, lambda step: False)
    assert a.tobytes() == b.tobytes()
