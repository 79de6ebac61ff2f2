"""The replayed day: a fleet policy priced against a committed trace, and two always-on baselines.

    python sim/fleet_sim.py --trace sim/traces/day-1.json --seed 1 [--json]
    python sim/fleet_sim.py --sweep-idle 60,120,600 [--json]      # one row per idle time (sweep.py)

A discrete-event simulation (no clock, no AWS) of one Auto Scaling group over the trace's day: AWS's
side (target tracking on backlog per instance, the scale-from-zero alarm, Capacity Rebalancing, spot
interruptions, per-second billing: aws_side.py) is modelled; the nodes' and the CLI's side
(node_side.py) calls the decision code they run (`fluxer_runtime.fleet_policy`, and the CLI's
scale-from-zero rule mirrored in model.py). engine.py runs the events; this file the baselines, the
report and the command line. Everything that varies is drawn from `--seed`: the same trace and seed
give the same figures. What is modelled and what is assumed: docs/fleet.md, "The replayed day".
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, replace
from pathlib import Path

# The decisions are this checkout's (the runtime next door), whatever fluxer_runtime is installed;
# sim/'s own modules import by name, as `python sim/fleet_sim.py` runs them.
HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "gpu-runtime")]

import bounds as trace_bounds  # noqa: E402  sim/bounds.py: what no policy beats on this trace
import sweep  # noqa: E402  sim/sweep.py: the idle time's trade, one replay per row
from engine import Sim, r, simulate  # noqa: E402
from model import Counters, Job, Node, Policy, scale_from_zero_decision  # noqa: E402

__all__ = ["Counters", "Job", "Node", "Policy", "Sim", "replay", "report", "scale_from_zero_decision",
           "simulate", "sweep_idle"]


def replay(trace: dict, seed: int, policy: Policy | None = None) -> dict:
    """The fleet and, for each type, one always-on on-demand node and one always-on spot node."""
    policy = policy or Policy()
    fleet = simulate(trace, policy, seed)
    baselines: dict[str, dict[str, dict]] = {"on-demand": {}, "spot": {}}
    for market in baselines:
        for itype in policy.instance_types:
            always_on = replace(policy, instance_types=(itype,), market=market, min_size=1, max_size=1,
                                initial_nodes=1)
            baselines[market][itype] = simulate(trace, always_on, seed)
    # The reference is the cheapest always-on on-demand node per image: the hardest one to beat.
    ref_type = min(baselines["on-demand"], key=lambda t: baselines["on-demand"][t]["costPerImage"])
    ref = baselines["on-demand"][ref_type]["costPerImage"]
    ratio = fleet["costPerImage"] / ref
    warm_p95 = fleet["wait"]["warm"]["p95"]
    floors = trace_bounds.bounds(trace, policy.idle_seconds, 60, ref)
    for f in floors["costFloor"]:  # also against an always-on on-demand node of its own type
        own = baselines["on-demand"].get(f["type"])
        if own:
            f["vsOwnOnDemand"] = r(f["costPerImage"] / own["costPerImage"], 4)
    return {
        "trace": trace["name"],
        "seed": seed,
        "interruptionEvents": len(trace["interruptions"]),
        "policy": asdict(policy),
        "fleet": fleet,
        "baselines": baselines,
        "reference": {"market": "on-demand", "type": ref_type, "costPerImage": ref},
        "costVsOnDemand": r(ratio, 4),
        "bounds": floors,
        "target": {"costVsOnDemandMax": 0.25, "warmP95MaxSeconds": 60,
                   "met": ratio <= 0.25 and warm_p95 is not None and warm_p95 <= 60
                   and fleet["jobsLost"] == 0},
    }


def sweep_idle(trace: dict, seed: int, idle_times: list[float], policy: Policy | None = None) -> dict:
    """One replay per idle time, everything else as `policy`: the rows of `sweep.report`."""
    policy = policy or Policy()
    return sweep.document([replay(trace, seed, replace(policy, idle_seconds=s)) for s in idle_times])


def brief(s: dict) -> str:
    w, c = s["wait"]["warm"], s["wait"]["cold"]
    return (f"${s['cost']['total']:.2f}  ${s['costPerImage']:.5f}/image  {s['nodeHours']:.2f} node-h  "
            f"wait p50/p95 {w['p50']}/{w['p95']} s  cold {c['jobs']} (p95 {c['p95']} s)")


def report(result: dict) -> str:
    f = result["fleet"]
    k, cost = f["counters"], f["cost"]
    w, c = f["wait"]["warm"], f["wait"]["cold"]
    cli, other = f["wait"]["coldByClient"]["cli"], f["wait"]["coldByClient"]["other"]
    hours = ", ".join(f"{t} {h:.2f}" for t, h in f["nodeHoursByType"].items())
    ref = result["reference"]
    verdict = "met" if result["target"]["met"] else "NOT met"
    lines = [
        f"replayed day: {result['trace']} (seed {result['seed']}): {f['jobs']} jobs, {f['images']} images",
        "",
        "fleet (spot, min 0, target tracking on backlog per instance, idle nodes leave):",
        f"  cost            ${cost['total']:.2f} (compute ${cost['compute']:.2f}, "
        f"volumes ${cost['volume']:.2f}; "
        f"${cost['waivedFirstHour']:.2f} not charged: interrupted in the first hour)",
        f"  cost per image  ${f['costPerImage']:.5f}",
        f"  node-hours      {f['nodeHours']:.2f} ({hours}); {k['launches']} launches",
        f"  queue wait      p50 {w['p50']} s, p95 {w['p95']} s, max {w['max']} s "
        f"({w['jobs']} jobs that arrived with a node up)",
        f"  cold starts     {c['jobs']} jobs: p50 {c['p50']} s, p95 {c['p95']} s, max {c['max']} s",
        f"                  sent by the CLI {cli['jobs']} (p50 {cli['p50']} s, max {cli['max']} s); "
        f"by other clients {other['jobs']} (p50 {other['p50']} s, max {other['max']} s)",
        f"  scaling         from zero: {k['cli_scale_from_zero']} by the CLI, "
        f"{k['alarm_scale_from_zero']} by the alarm; "
        f"{k['target_tracking_scale_outs']} target-tracking scale-outs;",
        f"                  {k['idle_terminations']} idle terminations; "
        f"{k['protection_calls']} protection calls",
        f"  interruptions   {k['events_hitting_nodes']} of the trace's {result['interruptionEvents']} "
        f"reclaims hit nodes: {k['rebalance_recommendations']} rebalance recommendations, "
        f"{k['replacements']} replacements,",
        f"                  {k['notices']} notices, {k['jobs_finished_in_notice']} jobs finished in the "
        f"notice, {k['jobs_handed_back']} handed back; jobs lost {f['jobsLost']}",
        "",
        "always-on baselines (one node, all day):",
    ]
    for market, by_type in result["baselines"].items():
        for itype, s in by_type.items():
            lines.append(f"  {market:9} {itype:11} {brief(s)}")
    lines += [
        "",
        f"fleet vs always-on on-demand {ref['type']} (the cheapest per image): "
        f"{result['costVsOnDemand'] * 100:.1f} % of its cost per image; warm p95 {w['p95']} s",
        f"target (<= 25 %, warm p95 <= 60 s, no job lost): {verdict}",
        "",
        trace_bounds.report(result["bounds"]),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Replay a day of jobs against the fleet policy.")
    parser.add_argument("--trace", type=Path, default=Path(__file__).parent / "traces" / "day-1.json")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--types", help="comma-separated instance types (default: g6e.xlarge,g5.xlarge)")
    parser.add_argument("--max", type=int, help="the group's maximum size (default 4)")
    parser.add_argument("--jobs-per-node", type=float, help="the target-tracking target (default 2)")
    idle = parser.add_mutually_exclusive_group()
    idle.add_argument("--idle", type=float, help="FLUXER_IDLE_SECONDS (default 600)")
    idle.add_argument("--sweep-idle", type=sweep.idle_times, metavar="S,S,…",
                      help="one row per idle time (seconds), the other flags applying to every row")
    parser.add_argument("--surplus-idle", type=float, help="FLUXER_SURPLUS_IDLE_SECONDS (default 120)")
    parser.add_argument("--json", action="store_true", help="the whole result as one JSON document")
    args = parser.parse_args(argv)
    try:
        trace = json.loads(args.trace.read_text())
    except (OSError, ValueError) as exc:
        print(f"fleet_sim: cannot read the trace {args.trace}: {exc}", file=sys.stderr)
        return 2
    policy = Policy()
    if args.types:
        types = tuple(t.strip() for t in args.types.split(",") if t.strip())
        unknown = [t for t in types if t not in trace["types"]]
        if unknown:
            print(f"fleet_sim: --types: {', '.join(unknown)} not in the trace (it has "
                  f"{', '.join(trace['types'])})", file=sys.stderr)
            return 2
        policy = replace(policy, instance_types=types)
    if args.max is not None:
        policy = replace(policy, max_size=args.max)
    if args.jobs_per_node is not None:
        policy = replace(policy, jobs_per_node=args.jobs_per_node)
    for flag, value, name in (("--idle", args.idle, "idle_seconds"),
                              ("--surplus-idle", args.surplus_idle, "surplus_idle_seconds")):
        if value is not None and not value >= 1:
            print(f"fleet_sim: {flag} {value:g}: must be at least 1 second", file=sys.stderr)
            return 2
        if value is not None:
            policy = replace(policy, **{name: value})
    if args.sweep_idle:
        doc = sweep_idle(trace, args.seed, args.sweep_idle, policy)
        print(json.dumps(doc, indent=2) if args.json else sweep.report(doc))
        return 0
    result = replay(trace, args.seed, policy)
    print(json.dumps(result, indent=2) if args.json else report(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
