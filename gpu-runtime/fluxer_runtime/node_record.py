"""The node record's counters: jobs by outcome, images, busy time, and two mergeable histograms
(schema/node.v1.schema.json). Read back on start, so a restarted runtime continues its counts."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

# Fixed upper bounds (seconds, inclusive); one more bucket counts everything above the last. Fixed
# so that records of any two nodes add bucket by bucket (a fleet's histogram is a plain sum).
GENERATION_BOUNDS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300)
QUEUE_WAIT_BOUNDS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600)
OUTCOMES = ("succeeded", "failed", "rejected", "cancelled", "requeued")


@dataclass
class Histogram:
    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    sum: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        if len(self.counts) != len(self.bounds) + 1:
            self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, seconds: float) -> None:
        seconds = max(seconds, 0.0)
        self.counts[bisect.bisect_left(self.bounds, seconds)] += 1
        self.sum += seconds
        self.count += 1

    def doc(self) -> dict[str, Any]:
        return {"bounds": list(self.bounds), "counts": list(self.counts), "sum": round(self.sum, 3),
                "count": self.count}

    def restore(self, doc: Any) -> None:
        """Continue from a record's histogram; one with other bounds (an older runtime) is dropped
        rather than misfiled."""
        if not isinstance(doc, dict) or doc.get("bounds") != list(self.bounds):
            return
        counts = doc.get("counts")
        if isinstance(counts, list) and len(counts) == len(self.counts) and all(
            isinstance(c, int) for c in counts
        ):
            self.counts = list(counts)
            self.sum = float(doc.get("sum", 0))
            self.count = int(doc.get("count", sum(counts)))


@dataclass
class Counters:
    """What a node has done since its first record. Callers hold the worker's lock."""

    jobs: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    images_done: int = 0
    busy_seconds: float = 0.0
    seq: int = 0
    first_seen_at: str | None = None
    interruption: dict[str, str] | None = None
    generation: Histogram = field(default_factory=lambda: Histogram(GENERATION_BOUNDS))
    queue_wait: Histogram = field(default_factory=lambda: Histogram(QUEUE_WAIT_BOUNDS))

    def count(self, outcome: str) -> None:
        self.jobs[outcome] += 1

    def restore(self, record: dict[str, Any]) -> None:
        """Take over the counts of this node's earlier record (same instance id): a restart under
        systemd, or the bootstrap's BOOTSTRAPPING record."""
        jobs = record.get("jobs")
        if isinstance(jobs, dict):
            for outcome in OUTCOMES:
                if isinstance(jobs.get(outcome), int):
                    self.jobs[outcome] = jobs[outcome]
        if isinstance(record.get("imagesDone"), int):
            self.images_done = record["imagesDone"]
        if isinstance(record.get("busySeconds"), (int, float)):
            self.busy_seconds = float(record["busySeconds"])
        if isinstance(record.get("seq"), int):
            self.seq = record["seq"]
        if isinstance(record.get("firstSeenAt"), str):
            self.first_seen_at = record["firstSeenAt"]
        if isinstance(record.get("interruption"), dict):
            self.interruption = record["interruption"]
        histograms = record.get("histograms") or {}
        if isinstance(histograms, dict):
            self.generation.restore(histograms.get("generationSeconds"))
            self.queue_wait.restore(histograms.get("queueWaitSeconds"))

    def summary(self) -> dict[str, Any]:
        """The counts alone: the health JSON's `counters`, and the node record's top-level fields."""
        return {"jobs": dict(self.jobs), "imagesDone": self.images_done,
                "busySeconds": round(self.busy_seconds, 3)}

    def doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "seq": self.seq,
            "firstSeenAt": self.first_seen_at,
            **self.summary(),
            "histograms": {"generationSeconds": self.generation.doc(),
                           "queueWaitSeconds": self.queue_wait.doc()},
        }
        if self.interruption:
            doc["interruption"] = dict(self.interruption)
        return doc
