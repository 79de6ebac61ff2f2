"""Lower bounds a trace sets on any fleet policy, from the trace alone (no simulation, no seed).

    python sim/bounds.py --trace sim/traces/day-1.json [--idle 600] [--json]

Both assume what fluxer's fleet does by design (issue 17, point 1): a node is started the moment work
arrives, and a node stays the idle time after its last job. A policy that lets work wait with no node
up (as the alarm backstop does for other clients' jobs, minutes) can pay less than the cost floor.

1. The cost floor per instance type: nodes of that type at the lowest spot price any of its pools
   has all day, billed only while some node must be up: from each job's arrival to its quickest
   possible end (its images, no queueing) plus the idle time, since the node that ran it stays that
   long; each gap between such stretches costs the cheaper of staying up and one boot; plus the root
   volume. No policy whose nodes wait the idle time before leaving pays less; shown as a share of the
   cheapest always-on on-demand node's cost per image (the simulator's reference).
2. The wait floor per instance type: the jobs that arrive while a node must be up (within the idle
   time of an earlier job's quickest end) and still wait longer than `--wait` seconds on a fleet of
   that type with one node up when their busy period begins, even with an oracle that launches
   unlimited extra nodes the moment a job has to wait, each READY one boot later: one node serves
   first come, first served; a job that finds it busy starts when it frees up or when the first
   extra node of that busy period is READY, whichever is first. More than 5 % of all the jobs (so of
   the warm ones) in this set: no such policy on that type reaches a p95 wait under `--wait`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

MONTH_SECONDS = 730 * 3600


def boot_seconds(spec: dict) -> float:
    b = spec["boot"]
    return b["launch"] + b["install"] + b["pull"] + b["load"]


def cost_floor(trace: dict, itype: str, idle: float, volume_gib: int = 100) -> dict:
    spec = trace["types"][itype]
    per_image, boot = spec["secondsPerImage"], boot_seconds(spec)
    # Some node is up from each job's arrival to its quickest end plus the idle time (the node that
    # ran it stays that long): the union of those intervals. Between two of them the fleet either
    # stays up through the gap or boots again: the cheaper of the two is counted; one boot first.
    intervals = sorted((j["at"], j["at"] + j["images"] * per_image + idle) for j in trace["jobs"])
    billed, starts = boot, 1
    start, end = intervals[0]
    for a, b in intervals[1:]:
        if a > end:
            billed += end - start + min(a - end, boot)
            starts += a - end > boot
            start = a
        end = max(end, b)
    billed += end - start
    price = min(p for pool, series in trace["spotPrices"].items() if pool.split("/")[0] == itype
                for _, p in series)
    cost = price * billed / 3600 + volume_gib * trace["gp3PerGbMonth"] * billed / MONTH_SECONDS
    images = sum(j["images"] for j in trace["jobs"])
    return {"type": itype, "nodeHours": round(billed / 3600, 3), "coldStarts": int(starts),
            "lowestSpot": price, "cost": round(cost, 4), "costPerImage": round(cost / images, 6)}


def wait_floor(trace: dict, itype: str, wait: float, idle: float = 600) -> dict:
    spec = trace["types"][itype]
    per_image, boot = spec["secondsPerImage"], boot_seconds(spec)
    free = -math.inf  # when the one node is free
    episode = None  # when the current busy period's first job had to wait: the oracle launched then
    up_until = -math.inf  # a node must be up until then: an earlier job's quickest end + the idle time
    over = 0
    for job in sorted(trace["jobs"], key=lambda j: j["at"]):
        at = job["at"]
        warm = at <= up_until  # a node is up for it under every policy with this idle time
        up_until = max(up_until, at + job["images"] * per_image + idle)
        if at >= free:
            free, episode = at + job["images"] * per_image, None
            continue
        episode = at if episode is None else episode
        starts = min(free, max(at, episode + boot))
        if warm and starts - at > wait:
            over += 1
        if starts == free:  # the one node took it; an extra node's job does not hold it up
            free += job["images"] * per_image
    allowed = math.floor(0.05 * len(trace["jobs"]))  # 5 % of all jobs: at least 5 % of the warm ones
    return {"type": itype, "waitSeconds": wait, "jobsOver": over, "allowed": allowed,
            "p95Possible": over <= allowed}


def bounds(trace: dict, idle: float = 600, wait: float = 60, reference: float | None = None) -> dict:
    types = sorted(trace["types"])
    floors = [cost_floor(trace, t, idle) for t in types]
    waits = [wait_floor(trace, t, wait, idle) for t in types]
    out = {"idleSeconds": idle, "costFloor": floors, "waitFloor": waits}
    if reference:
        for f in floors:
            f["vsReference"] = round(f["costPerImage"] / reference, 4)
    return out


def report(b: dict) -> str:
    lines = [f"lower bounds from the trace (idle time {b['idleSeconds']:g} s):"]
    for f in b["costFloor"]:
        share = f" = {f['vsReference'] * 100:.1f} % of the reference" if "vsReference" in f else ""
        if "vsOwnOnDemand" in f:
            share += f", {f['vsOwnOnDemand'] * 100:.1f} % of an on-demand {f['type']}'s"
        lines.append(f"  cost floor {f['type']:11} ${f['cost']:.2f} (${f['costPerImage']:.5f}/image{share}): "
                     f"{f['nodeHours']:.2f} node-h at ${f['lowestSpot']}/h, {f['coldStarts']} cold starts")
    for w in b["waitFloor"]:
        verdict = "possible" if w["p95Possible"] else "impossible"
        limit = f"{w['waitSeconds']:g} s"
        lines.append(f"  wait floor {w['type']:11} {w['jobsOver']} warm jobs wait > {limit} even with "
                     f"instant unlimited scale-out (5 % is {w['allowed']}): p95 <= {limit} {verdict}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Lower bounds a trace sets on any fleet policy.")
    parser.add_argument("--trace", type=Path, default=Path(__file__).parent / "traces" / "day-1.json")
    parser.add_argument("--idle", type=float, default=600, help="the idle time before a node leaves (600)")
    parser.add_argument("--wait", type=float, default=60, help="the wait target in seconds (60)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not (args.idle >= 0 and args.wait >= 0):
        print("bounds: --idle and --wait must be at least 0", file=sys.stderr)
        return 2
    trace = json.loads(args.trace.read_text())
    result = bounds(trace, args.idle, args.wait)
    print(json.dumps(result, indent=2) if args.json else report(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
