"""The idle time's trade, one row per idle time: what the fleet costs against how many jobs start cold.

    python sim/fleet_sim.py --sweep-idle 60,90,120,180,300,600 [--types T,…] [--seed N] [--json]

FLUXER_IDLE_SECONDS (`fluxer fleet up --idle`) is the operator's to pick: a shorter one stops paying
for idle nodes sooner and makes more jobs wait for a boot. Each row is one `fleet_sim.replay` with
that idle time and every other setting the same; this module only picks each result's figures and
lays them out, so a row says what the full report with `--idle` says.
"""

from __future__ import annotations

import argparse
import math


def idle_times(text: str) -> list[float]:
    """`--sweep-idle`'s value: comma-separated seconds, each at least 1 (the runtime's minimum)."""
    parts = [p.strip() for p in text.split(",")]
    if not any(parts):
        raise argparse.ArgumentTypeError("expected comma-separated seconds, e.g. 60,120,600")
    values = []
    for part in parts:
        try:
            value = float(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{part!r} is not a number of seconds") from None
        if not (math.isfinite(value) and value >= 1):
            raise argparse.ArgumentTypeError(f"{part!r}: each idle time must be at least 1 second")
        values.append(value)
    return values


def row(result: dict) -> dict:
    """One replay's figures that the idle time moves."""
    fleet = result["fleet"]
    warm, cold, by_client = fleet["wait"]["warm"], fleet["wait"]["cold"], fleet["wait"]["coldByClient"]
    return {
        "idleSeconds": result["policy"]["idle_seconds"],
        "cost": fleet["cost"]["total"],
        "costPerImage": fleet["costPerImage"],
        "costVsOnDemand": result["costVsOnDemand"],
        "nodeHours": fleet["nodeHours"],
        "launches": fleet["counters"]["launches"],
        "warm": {k: warm[k] for k in ("jobs", "p50", "p95")},
        "cold": {"jobs": cold["jobs"], "cliP50": by_client["cli"]["p50"],
                 "otherP50": by_client["other"]["p50"]},
        "jobsLost": fleet["jobsLost"],
        "targetMet": result["target"]["met"],
        "costFloorVsReference": {f["type"]: f["vsReference"] for f in result["bounds"]["costFloor"]},
    }


def document(results: list[dict]) -> dict:
    """The sweep as one JSON document: what every row shares, then the rows."""
    first = results[0]
    policy = {k: v for k, v in first["policy"].items() if k != "idle_seconds"}
    target = {k: v for k, v in first["target"].items() if k != "met"}
    return {"trace": first["trace"], "seed": first["seed"], "policy": policy, "reference": first["reference"],
            "target": target, "rows": [row(r) for r in results]}


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def report(doc: dict) -> str:
    ref, target = doc["reference"], doc["target"]
    types = list(doc["rows"][0]["costFloorVsReference"]) if doc["rows"] else []
    head = ["idle", "cost", "per image", "% ref", "node-h", "warm p50/p95", "cold jobs",
            "cold p50 cli/other", "lost", "target", *(f"floor {t}" for t in types)]
    body = []
    for w in doc["rows"]:
        cold = w["cold"]
        body.append([f"{w['idleSeconds']:g} s", f"${w['cost']:.2f}", f"${w['costPerImage']:.5f}",
                     f"{w['costVsOnDemand'] * 100:.1f} %", f"{w['nodeHours']:.2f}",
                     f"{_s(w['warm']['p50'])}/{_s(w['warm']['p95'])} s", str(cold["jobs"]),
                     f"{_s(cold['cliP50'])}/{_s(cold['otherP50'])} s", str(w["jobsLost"]),
                     "met" if w["targetMet"] else "not met",
                     *(f"{w['costFloorVsReference'][t] * 100:.1f} %" for t in types)])
    widths = [max(len(c[i]) for c in [head, *body]) for i in range(len(head))]
    table = ["  ".join(c.rjust(n) if i else c.ljust(n)
                       for i, (c, n) in enumerate(zip(cells, widths, strict=True)))
             for cells in [head, *body]]
    policy = doc["policy"]
    return "\n".join([
        f"idle-time sweep: {doc['trace']} (seed {doc['seed']}), {', '.join(policy['instance_types'])}, "
        f"max {policy['max_size']}, {policy['jobs_per_node']:g} jobs/node, "
        f"surplus idle {policy['surplus_idle_seconds']:g} s",
        f"% ref: of always-on on-demand {ref['type']}'s ${ref['costPerImage']:.5f}/image (the cheapest of "
        f"the fleet's types); target: <= {target['costVsOnDemandMax'] * 100:g} %, "
        f"warm p95 <= {target['warmP95MaxSeconds']:g} s, no job lost",
        "warm: jobs that arrived with a node up; floor: sim/bounds.py's cost floor at that idle time, % ref",
        "",
        *table,
    ])
