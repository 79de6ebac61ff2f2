"""Writes a replayed day's trace: job arrivals, per-AZ spot prices and interruptions, node timings.

    python sim/make_trace.py --seed 20261201 --out sim/traces/day-1.json

The committed trace was made by this script with that seed; the same seed writes the same bytes.
Every figure that is not drawn at random is here with its source (also copied into the trace's
`sources`), so a reader can change an assumption and regenerate.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

DAY = 86_400
REGION = "us-east-1"
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")

# On-demand prices and the spot range per type: /work/shared/FLEET-NOTES.md "Prices" (a 2026 catalog
# snapshot, us-east-1): g5.xlarge $1.006, spot ~0.40; g6e.xlarge $1.861, spot 0.79-1.21.
# Spot bases per AZ spread across that range; the price then drifts (below).
TYPES = {
    "g5.xlarge": {
        "onDemand": 1.006,
        "spotBase": (0.38, 0.41, 0.45),
        "spotRange": (0.33, 0.50),
        # docs/runtime.md "Launch to first image (estimate, FLUX.1-schnell)", g5.xlarge column, pull at
        # burst (a new instance has its network burst credits): 45 + 30 + 30 + 60 s, then 5 s of CUDA
        # context and first-call kernels before the first image.
        "boot": {"launch": 45, "install": 30, "pull": 30, "load": 60, "firstCall": 5},
        # 1024x1024, 4 steps: ~1.5 s/step on the A10G with the fp8 transformer, + T5 and VAE (~0.5 s).
        "secondsPerImage": 6.5,
    },
    "g6e.xlarge": {
        "onDemand": 1.861,
        "spotBase": (0.82, 0.97, 1.12),
        "spotRange": (0.79, 1.21),
        # docs/runtime.md, g6e.xlarge column: 45 + 30 + 20 + 30 s, then 5 s first-call.
        "boot": {"launch": 45, "install": 30, "pull": 20, "load": 30, "firstCall": 5},
        # ~0.5 s/step on the L40S in bf16 x 4 steps + T5 and VAE: ~2.5 s per 1024x1024 image.
        "secondsPerImage": 2.5,
    },
}

# Jobs per hour of the day (UTC): quiet nights, a morning ramp, a lunch dip, an afternoon peak.
HOURLY_RATE = (0.3, 0.3, 0.3, 0.3, 0.3, 0.5, 3, 10, 25, 45, 55, 60,
               40, 55, 65, 65, 55, 40, 25, 20, 15, 10, 5, 2)
IMAGES = ((1, 0.65), (2, 0.15), (4, 0.20))  # images per ordinary job, and their shares
CLI_SHARE = 0.8  # of ordinary jobs sent by `fluxer generate`; the rest by other SQS clients
BURSTS = 6  # `fluxer generate --batch` runs in the working day
NIGHT_BATCH = 30  # a scheduled job of another client sends this many before the day starts
# Reclaims per pool per day: a node that runs all day in any pool is interrupted about this often.
# Harsher than AWS's Spot Instance Advisor lists for these types in us-east-1 (a few % to 10-15 % of
# instances a month) on purpose: the handing-on path must weigh in the figures. Each reclaim notifies
# every node of ours in the pool (a pool-wide reclaim is the worst case).
RECLAIMS_PER_POOL_DAY = 3
REBALANCE_LEADS = (0, 60, 240, 600)  # seconds from the rebalance recommendation to the 2-minute notice
POOL_UNAVAILABLE = 3600  # after an interruption the pool has no spare capacity for this long

SOURCES = {
    "prices": "/work/shared/FLEET-NOTES.md 'Prices' (2026 catalog snapshot, us-east-1); "
              "https://aws.amazon.com/ec2/pricing/on-demand/ and https://aws.amazon.com/ec2/spot/pricing/",
    "billing": "/work/shared/FLEET-NOTES.md 'Spot billing': per second, 60 s minimum; free first hour when "
               "AWS interrupts; gp3 ~$0.08/GB-month",
    "boot": "docs/runtime.md 'Launch to first image (estimate, FLUX.1-schnell)' (not measured on AWS yet)",
    "generation": "docs/runtime.md, same table: ~1.5 s/step A10G fp8, ~0.5 s/step L40S bf16; "
                  "4 steps at 1024x1024",
    "interruptions": "EC2 gives a rebalance recommendation (possibly with the notice) and a 2-minute notice "
                     "(https://docs.aws.amazon.com/autoscaling/ec2/userguide/"
                     "ec2-auto-scaling-capacity-rebalancing.html)",
}


def _pool(itype: str, zone: str) -> str:
    return f"{itype}/{zone}"


def _prices(rng: random.Random) -> dict[str, list[list[float]]]:
    """A step series per pool: a change every few hours (mean 3 h), by up to 8 %, inside the range."""
    out: dict[str, list[list[float]]] = {}
    for itype, spec in TYPES.items():
        lo, hi = spec["spotRange"]
        for zone, base in zip(ZONES, spec["spotBase"], strict=True):
            price = base * rng.uniform(0.97, 1.03)
            series = [[0, round(price, 4)]]
            t = rng.expovariate(1 / 10_800)
            while t < DAY:
                price = min(hi, max(lo, price * rng.uniform(0.92, 1.08)))
                series.append([round(t), round(price, 4)])
                t += rng.expovariate(1 / 10_800)
            out[_pool(itype, zone)] = series
    return out


def price_at(series: list[list[float]], t: float) -> float:
    """The price in force at `t` (the last change at or before it)."""
    price = series[0][1]
    for at, p in series:
        if at > t:
            break
        price = p
    return price


def _arrivals(rng: random.Random) -> list[dict]:
    jobs: list[dict] = []
    # Ordinary jobs: a Poisson process with the hourly rate (piecewise constant).
    for hour, rate in enumerate(HOURLY_RATE):
        t = hour * 3600 + rng.expovariate(rate / 3600)
        while t < (hour + 1) * 3600:
            images = rng.choices([n for n, _ in IMAGES], [w for _, w in IMAGES])[0]
            client = "cli" if rng.random() < CLI_SHARE else "other"
            jobs.append({"at": round(t, 1), "images": images, "client": client})
            t += rng.expovariate(rate / 3600)
    # Bursts: a batch of prompts sent within a few minutes, one image each.
    for _ in range(BURSTS):
        start = rng.uniform(8 * 3600, 20 * 3600)
        n, spread = rng.randint(10, 40), rng.uniform(30, 180)
        jobs += [{"at": round(start + spread * i / n, 1), "images": 1, "client": "cli"} for i in range(n)]
    # The night batch, sent by a client that is not fluxer's CLI (the alarm backstop must wake the fleet).
    start = rng.uniform(5.5 * 3600, 6 * 3600)
    jobs += [{"at": round(start + 60 * i / NIGHT_BATCH, 1), "images": 1, "client": "other"}
             for i in range(NIGHT_BATCH)]
    jobs.sort(key=lambda j: j["at"])
    for i, job in enumerate(jobs):
        job["id"] = f"j{i + 1:04d}"
    return [{"id": j["id"], "at": j["at"], "images": j["images"], "client": j["client"]} for j in jobs]


def _interruptions(rng: random.Random, prices: dict[str, list[list[float]]]) -> list[dict]:
    """Reclaims in every pool, a Poisson process over the day (the pool's price does not drive them:
    AWS reclaims for capacity, not price)."""
    events = []
    for pool in sorted(prices):
        t = rng.expovariate(RECLAIMS_PER_POOL_DAY / DAY)
        while t < DAY:
            events.append({"at": round(t), "pool": pool, "rebalanceLead": rng.choice(REBALANCE_LEADS),
                           "unavailableFor": POOL_UNAVAILABLE})
            t += rng.expovariate(RECLAIMS_PER_POOL_DAY / DAY)
    return sorted(events, key=lambda e: (e["at"], e["pool"]))


def make_trace(seed: int, name: str) -> dict:
    rng = random.Random(seed)
    prices = _prices(rng)
    jobs = _arrivals(rng)
    interruptions = _interruptions(rng, prices)
    types = {t: {k: v for k, v in s.items() if k in ("onDemand", "boot", "secondsPerImage")}
             for t, s in TYPES.items()}
    return {
        "version": 1,
        "name": name,
        "generator": {"script": "sim/make_trace.py", "seed": seed},
        "region": REGION,
        "duration": DAY,
        "sources": SOURCES,
        "gp3PerGbMonth": 0.08,
        # The previous day's last queue activity, seconds before midnight (SQS metrics pause after
        # six idle hours: FLEET-NOTES "Autoscaling on a queue").
        "queueLastActive": -3600,
        "types": types,
        "spotPrices": prices,
        "interruptions": interruptions,
        "jobs": jobs,
    }


def dump(trace: dict) -> str:
    """One job, price change or event per line: diffs of a regenerated trace stay readable."""
    lines = ["{"]
    items = list(trace.items())
    for i, (key, value) in enumerate(items):
        end = "," if i < len(items) - 1 else ""
        if key in ("jobs", "interruptions"):
            rows = ",\n".join("    " + json.dumps(v) for v in value)
            lines.append(f'  "{key}": [\n{rows}\n  ]{end}')
        elif key == "spotPrices":
            rows = ",\n".join(f"    {json.dumps(k)}: {json.dumps(v)}" for k, v in value.items())
            lines.append(f'  "{key}": {{\n{rows}\n  }}{end}')
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value)}{end}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--name", default="day-1")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "traces" / "day-1.json")
    args = parser.parse_args(argv)
    trace = make_trace(args.seed, args.name)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(dump(trace))
    images = sum(j["images"] for j in trace["jobs"])
    events = len(trace["interruptions"])
    print(f"{args.out}: {len(trace['jobs'])} jobs, {images} images, {events} interruptions")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
