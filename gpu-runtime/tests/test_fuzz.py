"""Fuzzed queue messages against a real in-process worker (moto, tiny model): every message that
carries a usable job id becomes `rejected` at the node's location, every other one is dropped with a
`job rejected` log line, the worker never dies, and a valid job sent afterwards still succeeds.
Seeded: a failure prints its seed, and FLUXER_FUZZ_SEED=<seed> replays it."""

from __future__ import annotations

import io
import json
import os
import random
from typing import Any

from conftest import Stack, wait_for

SEED = int(os.environ.get("FLUXER_FUZZ_SEED", "9"))
MESSAGES = 48
MB = 1_000_000  # a 1 MB field: SQS (and moto) carry messages shorter than 1 MiB
REQUIRED = ["version", "id", "prompt", "model", "width", "height", "steps", "guidance", "seed", "count",
            "output", "submittedAt"]


def random_json(rng: random.Random, depth: int = 0) -> Any:
    kinds = ["null", "bool", "int", "float", "str", "list", "dict"] if depth < 4 else ["int", "str"]
    kind = rng.choice(kinds)
    if kind == "null":
        return None
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "int":
        return rng.choice([0, -1, 2**63, -(2**64), rng.randint(-10**6, 10**6)])
    if kind == "float":
        return rng.choice([0.5, -1e308, 1e-300, rng.uniform(-1e6, 1e6)])
    if kind == "str":
        return "".join(chr(rng.randint(1, 0x2FFF)) for _ in range(rng.randint(0, 12)))
    if kind == "list":
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {random_json(rng, 4) if rng.random() < 0.5 else rng.choice(REQUIRED): random_json(rng, depth + 1)
            for _ in range(rng.randint(0, 5))}


def wrong_type(rng: random.Random, field: str) -> Any:
    values: list[Any] = [None, True, "12", 12, 1.5, [], {}, [1, 2], {"a": 1}, "", -7]
    return rng.choice([v for v in values if type(v) is not type(FIELD_EXAMPLE.get(field))])


FIELD_EXAMPLE: dict[str, Any] = {"version": 1, "prompt": "x", "model": "tiny", "width": 64, "height": 64,
                                 "steps": 4, "guidance": 3.5, "seed": 1, "count": 1, "output": {},
                                 "submittedAt": "2026-01-01T00:00:00Z"}


def fuzz_messages(stack: Stack, rng: random.Random) -> list[tuple[str, str, str | None]]:
    """(kind, body, job id the `rejected` status must appear under, or None: dropped)."""
    out: list[tuple[str, str, str | None]] = []
    kinds = ["random-json", "non-object", "wrong-type", "missing-field", "huge-field", "invalid-utf8",
             "not-json", "deep-nesting", "huge-number", "bad-id"]
    for i in range(MESSAGES):
        kind = kinds[i % len(kinds)]
        job = stack.job()
        jid = job["id"]
        if kind == "random-json":
            doc = random_json(rng)
            out.append((kind, json.dumps(doc), None))
        elif kind == "non-object":
            out.append((kind, json.dumps(rng.choice([[], [job], 42, "job", None, True, 1.5])), None))
        elif kind == "wrong-type":
            field = rng.choice([f for f in REQUIRED if f != "id"])
            job[field] = wrong_type(rng, field)
            out.append((f"{kind}:{field}", json.dumps(job), jid))
        elif kind == "missing-field":
            field = rng.choice([f for f in REQUIRED if f != "id"])
            del job[field]
            out.append((f"{kind}:{field}", json.dumps(job), jid))
        elif kind == "huge-field":
            field = rng.choice(["prompt", "negativePrompt", "submittedBy", "extra"])
            job[field] = "p" * MB
            out.append((f"{kind}:{field}", json.dumps(job), jid))
        elif kind == "invalid-utf8":
            # SQS carries only Unicode text: invalid UTF-8 reaches a worker as lone surrogates (JSON
            # escapes) or as bytes decoded as Latin-1; in a field the schema restricts, or in place of JSON.
            raw = bytes(rng.randint(0x80, 0xFF) for _ in range(16))
            choice = rng.randint(0, 2)
            if choice == 0:
                job["model"] = "tiny\udcff\ud800"
                out.append((f"{kind}:surrogates", json.dumps(job), jid))
            elif choice == 1:
                out.append((f"{kind}:latin1-body", raw.decode("latin-1"), None))
            else:
                job["model"] = raw.decode("latin-1")
                out.append((f"{kind}:latin1-field", json.dumps(job, ensure_ascii=False), jid))
        elif kind == "not-json":
            out.append((kind, rng.choice(["", "{", "{'id': 1}", "null null", "\x00\x01", "}{"]), None))
        elif kind == "deep-nesting":
            depth = rng.choice([10_000, 100_000])
            out.append((kind, "[" * depth + "]" * depth, None))
        elif kind == "huge-number":
            out.append((kind, json.dumps(job)[:-1] + ', "seed": ' + "9" * 5000 + "}", None))
        else:
            job["id"] = rng.choice(["../../etc", "", "019ad3f2", jid.upper() + "x", 12])
            out.append((kind, json.dumps(job), None))
    return out


def test_fuzzed_messages_are_rejected_or_dropped_and_the_worker_survives(stack: Stack, start_worker: Any,
                                                                         monkeypatch: Any) -> None:
    from fluxer_runtime.logs import log

    lines = io.StringIO()
    monkeypatch.setattr(log, "_stream", lines)
    rng = random.Random(SEED)
    messages = fuzz_messages(stack, rng)
    for _, body, _ in messages:
        stack.send(body, queued_status=False)
    worker = start_worker()

    def drained() -> bool:
        return stack.counts() == (0, 0)

    wait_for(drained, 120, 0.2, f"every fuzzed message settled (seed {SEED})")
    assert worker.thread.is_alive(), f"worker died (seed {SEED})"
    for kind, _, jid in messages:
        if jid is not None:
            doc = stack.status(jid)
            assert doc is not None and doc["state"] == "rejected", f"{kind}: {doc} (seed {SEED})"
            # The reason names the problem without quoting a huge value back.
            assert 0 < len(doc["error"]["message"]) <= 2000, f"{kind}: {len(doc['error']['message'])} chars"
    logged = [json.loads(line) for line in lines.getvalue().splitlines() if line.startswith("{")]
    assert max(len(line) for line in lines.getvalue().splitlines()) < 10_000, "a log line quotes a huge field"
    dropped = [entry for entry in logged if entry["msg"] == "job rejected" and "job_id" not in entry]
    expected_drops = sum(1 for _, _, jid in messages if jid is None)
    assert len(dropped) == expected_drops, f"{len(dropped)} drop lines, {expected_drops} drops (seed {SEED})"
    assert all(entry.get("reason") for entry in dropped)

    valid = stack.job()
    stack.send(valid)
    assert stack.wait_state(valid["id"], "succeeded", timeout=60)["state"] == "succeeded"
    assert worker.get()["state"] in ("READY", "BUSY")
    print(f"runtime fuzz: {len(messages)} messages (seed {SEED}), "
          f"{len(messages) - expected_drops} rejected, {expected_drops} dropped, worker alive")
