"""Status documents (schema/status.v1.schema.json) and the PNG files a job produces."""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass, field
from typing import Any

from PIL.PngImagePlugin import PngInfo

from . import __version__
from .aws import Message, Versioned
from .contract import Job
from .fence import Lease
from .logs import utc_now

TERMINAL_STATES = frozenset({"succeeded", "failed", "rejected", "cancelled"})


@dataclass(frozen=True)
class Node:
    instance_id: str
    instance_type: str | None
    az: str | None
    az_id: str | None = None
    region: str | None = None
    lifecycle: str | None = None
    launch_time: str | None = None

    def doc(self) -> dict[str, Any]:
        # the schema forbids null: a field the node does not know (no IMDS) is left out
        doc = {"instanceId": self.instance_id, "instanceType": self.instance_type, "az": self.az}
        return {k: v for k, v in doc.items() if v is not None}


def terminal_doc(
    job_id: str, state: str, node: Node, attempt: int, error: dict[str, str] | None, model: str | None = None
) -> dict[str, Any]:
    """The status of a job that ends without running (rejected, duplicate, cancelled early...)."""
    now = utc_now()
    doc: dict[str, Any] = {
        "id": job_id,
        "state": state,
        "node": node.doc(),
        "attempt": attempt,
        "timings": {"finishedAt": now},
        "outputs": [],
        "error": error,
        "updatedAt": now,
    }
    if model:
        doc["model"] = model
    return doc


@dataclass
class Prepared:
    """A received message whose job passed every check before it may start."""

    message: Message
    job: Job
    attempt: int
    done: frozenset[int]  # images already in S3 from an earlier attempt
    current: Versioned | None = None  # status.json as read when the job was taken: the fence


@dataclass
class JobRun:
    """One attempt at one job on this node. The GPU thread moves it forward; the I/O lane snapshots
    it into status.json, so every write carries the latest progress and writes stay ordered."""

    prepared: Prepared
    node: Node
    state: str = "running"
    step: int = 0
    image: int = 1
    uploaded: set[int] = field(default_factory=set)
    error: dict[str, str] | None = None
    started_at: str = field(default_factory=utc_now)
    first_step_at: str | None = None
    finished_at: str | None = None
    stop_reason: str | None = None  # "cancelled" or "interrupted" when the GPU loop stopped early
    io_error: BaseException | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    status_pending: bool = False
    last_progress_write: float = 0.0
    last_step_at: float = 0.0
    pipeline_seconds: float = 0.0
    lease: Lease | None = None
    fenced: bool = False  # another attempt wrote the job's status: this one stops, writes nothing

    @property
    def job(self) -> Job:
        return self.prepared.job

    def outputs(self) -> list[str]:
        return [self.job.image_key(i) for i in sorted(self.prepared.done | self.uploaded)]

    def doc(self) -> dict[str, Any]:
        with self.lock:
            job = self.job
            return {
                "id": job.id,
                "state": self.state,
                "progress": {"step": self.step, "steps": job.steps, "image": self.image, "count": job.count},
                "node": self.node.doc(),
                "attempt": self.prepared.attempt,
                "timings": {
                    "submittedAt": job.submitted_at,
                    "startedAt": self.started_at,
                    "firstStepAt": self.first_step_at,
                    "finishedAt": self.finished_at,
                },
                "outputs": self.outputs(),
                "error": self.error,
                "model": job.model,
                "updatedAt": utc_now(),
            }


def png_bytes(image: Any, job: Job, index: int) -> bytes:
    """PNG with the generation parameters in text chunks: one key per parameter, plus the
    `parameters` line other generators (AUTOMATIC1111, Forge) write and image viewers show."""
    seed = job.image_seed(index)
    info = PngInfo()
    fields = {
        "prompt": job.prompt,
        "negative_prompt": job.negative_prompt or "",
        "seed": str(seed),
        "model": job.model,
        "steps": str(job.steps),
        "guidance": f"{job.guidance:g}",
        "width": str(job.width),
        "height": str(job.height),
        "job_id": job.id,
        "image_index": str(index),
        "software": f"fluxer-runtime {__version__}",
    }
    for key, value in fields.items():
        info.add_itxt(key, value)
    negative = f"\nNegative prompt: {job.negative_prompt}" if job.negative_prompt else ""
    info.add_itxt(
        "parameters",
        f"{job.prompt}{negative}\nSteps: {job.steps}, CFG scale: {job.guidance:g}, Seed: {seed}, "
        f"Size: {job.width}x{job.height}, Model: {job.model}",
    )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()
