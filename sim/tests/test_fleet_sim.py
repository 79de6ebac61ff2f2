"""The replayed day: reproducible, loses no job, scales out and back to zero, and prices the
decisions of fluxer_runtime.fleet_policy (not a copy of them)."""

from __future__ import annotations

import copy
import json
import random
from dataclasses import replace
from pathlib import Path

import pytest
from fluxer_runtime import fleet_policy

import fleet_sim
import make_trace
from fleet_sim import Policy, replay, scale_from_zero_decision, simulate

TRACE = Path(__file__).resolve().parents[1] / "traces" / "day-1.json"


@pytest.fixture(scope="module")
def day() -> dict:
    return json.loads(TRACE.read_text())


def small_trace(day: dict, jobs: list[dict], interruptions: list[dict] | None = None,
                duration: int = 7200, zones: tuple[str, ...] = ("us-east-1a", "us-east-1b")) -> dict:
    """The committed day's types, flat prices in two zones (a cheaper than b), the given jobs."""
    trace = copy.deepcopy({k: v for k, v in day.items() if k not in ("jobs", "interruptions", "spotPrices")})
    trace.update(duration=duration, name="small", queueLastActive=0, interruptions=interruptions or [])
    trace["spotPrices"] = {f"{t}/{z}": [[0, base + 0.01 * i]] for t, base in
                           (("g5.xlarge", 0.40), ("g6e.xlarge", 0.90)) for i, z in enumerate(zones)}
    trace["jobs"] = [{"id": f"j{i:04d}", **j} for i, j in enumerate(jobs)]
    return trace


def burst(at: float, n: int, client: str = "cli") -> list[dict]:
    return [{"at": at + i, "images": 1, "client": client} for i in range(n)]


G5 = Policy(instance_types=("g5.xlarge",))


def test_the_committed_trace_is_the_generators_output_for_its_seed(day):
    assert make_trace.dump(make_trace.make_trace(day["generator"]["seed"], day["name"])) == TRACE.read_text()


def test_figures_are_reproducible_from_the_seed(day):
    first, second = replay(day, seed=1), replay(day, seed=1)
    assert first == second
    assert replay(day, seed=2)["fleet"] != first["fleet"]  # the seed is what varies (boot and image times)


def test_no_job_is_lost_on_the_day_nor_in_the_baselines(day):
    result = replay(day, seed=1)
    runs = [result["fleet"], *(s for by_type in result["baselines"].values() for s in by_type.values())]
    images = sum(j["images"] for j in day["jobs"])
    for run in runs:
        assert run["jobsLost"] == 0
        assert run["images"] == images
    assert result["fleet"]["counters"]["events_hitting_nodes"] > 0  # the day does interrupt nodes


def test_one_burst_scales_out_and_back_to_zero(day):
    trace = small_trace(day, burst(600, 80))
    out = simulate(trace, G5, seed=1)
    k = out["counters"]
    assert k["cli_scale_from_zero"] == 1
    assert k["target_tracking_scale_outs"] >= 1 and k["launches"] > 1
    assert k["idle_terminations"] == k["launches"]  # every node left by itself: back to zero
    assert all(n["reason"] == "idle" for n in out["nodes"])
    assert out["jobsLost"] == 0 and out["wait"]["cold"]["jobs"] > 0


def test_jobs_from_other_clients_wait_for_the_alarm(day):
    cli = simulate(small_trace(day, burst(600, 1, "cli")), G5, seed=1)
    other = simulate(small_trace(day, burst(600, 1, "other")), G5, seed=1)
    assert cli["counters"]["cli_scale_from_zero"] == 1 and other["counters"]["alarm_scale_from_zero"] == 1
    # The alarm adds the metric's minute and its delay to the boot.
    assert other["wait"]["cold"]["p50"] >= cli["wait"]["cold"]["p50"] + 60


def test_a_notice_hands_the_job_back_and_nothing_is_lost(day):
    # One 40-image job (~260 s on a g5, from ~170 s) in the cheaper zone's pool, reclaimed at 250 s
    # with no rebalance recommendation ahead of the notice.
    reclaim = {"at": 250, "pool": "g5.xlarge/us-east-1a", "rebalanceLead": 0, "unavailableFor": 3600}
    trace = small_trace(day, [{"at": 0, "images": 40, "client": "cli"}], [reclaim])
    out = simulate(trace, G5, seed=1)
    k = out["counters"]
    assert out["nodes"][0]["pool"] == "g5.xlarge/us-east-1a"
    assert k["notices"] == 1 and k["jobs_handed_back"] == 1 and k["replacements"] == 1
    assert out["nodes"][1]["pool"] == "g5.xlarge/us-east-1b"  # the reclaimed pool has no capacity
    assert out["jobsLost"] == 0 and out["images"] == 40
    # Capacity Rebalancing terminates the old node once its replacement is InService (20 s), before
    # AWS reclaims it: Auto Scaling ended it, so its first hour is billed.
    assert out["nodes"][0]["reason"] == "rebalanced" and out["cost"]["waivedFirstHour"] == 0
    # With a launch hook (InService at READY) AWS reclaims it first, and does not charge it.
    hooked = simulate(trace, replace(G5, launch_hook=True), seed=1)
    assert hooked["nodes"][0]["reason"] == "interrupted" and hooked["cost"]["waivedFirstHour"] > 0
    assert hooked["jobsLost"] == 0 and hooked["images"] == 40


def test_the_idle_decision_is_the_modules(day, monkeypatch):
    trace = small_trace(day, burst(600, 20))
    before = simulate(trace, G5, seed=1)
    monkeypatch.setattr(fleet_policy, "idle_decision", lambda *args, **kwargs: False)
    after = simulate(trace, G5, seed=1)
    assert before["counters"]["idle_terminations"] > 0 and after["counters"]["idle_terminations"] == 0
    assert after["nodeHours"] > before["nodeHours"]


def test_a_bursts_extra_nodes_leave_after_the_surplus_time_the_keeper_after_the_full_idle_time(day):
    # 60 one-image jobs at once: target tracking adds nodes; once the burst is served they go.
    trace = small_trace(day, burst(600, 60), duration=10_800)
    run = simulate(trace, G5, seed=1)
    nodes = {n["id"]: n for n in run["nodes"]}
    assert len(nodes) >= 3 and run["jobsLost"] == 0
    first, *extra = sorted(nodes)  # the first node is the lowest id: the keeper
    assert nodes[first]["reason"] == "idle" and all(nodes[i]["reason"] == "idle" for i in extra)
    # The extra nodes left about 2 minutes after their last job, the keeper 10 minutes after its own.
    assert all(nodes[i]["end"] < nodes[first]["end"] - 300 for i in extra)
    longer = simulate(trace, replace(G5, surplus_idle_seconds=600), seed=1)
    assert longer["nodeHours"] > run["nodeHours"] and longer["costPerImage"] > run["costPerImage"]


def test_the_protection_decision_is_the_modules(day, monkeypatch):
    trace = small_trace(day, burst(600, 20))
    assert simulate(trace, G5, seed=1)["counters"]["protection_calls"] > 0
    monkeypatch.setattr(fleet_policy, "protect_decision", lambda *args: None)
    assert simulate(trace, G5, seed=1)["counters"]["protection_calls"] == 0


def test_hysteresis_saves_protection_calls(day):
    trace = small_trace(day, [{"at": 600 + 30 * i, "images": 1, "client": "cli"} for i in range(20)])
    calls = [simulate(trace, replace(G5, protect_hysteresis=h), seed=1)["counters"]["protection_calls"]
             for h in (0, 60)]
    assert calls[1] < calls[0]


def test_scale_from_zero_mirrors_the_cli_rule():
    # The table test/unit/fleet-zero.test.ts checks src/core/fleet/zero.ts against.
    contract = Path(__file__).resolve().parents[2] / "test" / "contracts" / "scale-from-zero.json"
    table = json.loads(contract.read_text())
    assert len(table["cases"]) >= 10
    for case in table["cases"]:
        i = case["input"]
        got = scale_from_zero_decision(i["desired"], i["min"], i["max"], i["queued"],
                                       i.get("launchSuspended", False), i.get("breaker", False))
        assert got == case["raiseTo"], case["what"]


def test_the_cli_prints_the_figures_and_json(capsys):
    assert fleet_sim.main(["--trace", str(TRACE), "--seed", "1"]) == 0
    text = capsys.readouterr().out
    assert "cost per image" in text and "always-on baselines" in text and "jobs lost 0" in text
    assert fleet_sim.main(["--trace", str(TRACE), "--seed", "1", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["fleet"]["jobsLost"] == 0 and doc["reference"]["market"] == "on-demand"
    assert fleet_sim.main(["--trace", str(TRACE), "--types", "p5.48xlarge"]) == 2


def test_no_policy_beats_the_traces_bounds(day):
    from bounds import bounds, wait_floor

    result = replay(day, seed=1)
    floors = {f["type"]: f for f in result["bounds"]["costFloor"]}
    # On this day the fleet costs more than the cheaper floor; each always-on node more than its own.
    assert result["fleet"]["cost"]["total"] >= min(f["cost"] for f in floors.values())
    # A day of CLI jobs only (a node started the moment work arrives, the floor's premise), any idle time.
    cli_day = {**day, "jobs": [{**j, "client": "cli"} for j in day["jobs"]]}
    for idle in (120, 600):
        run = simulate(cli_day, replace(G5, idle_seconds=idle), seed=1)
        assert run["cost"]["total"] >= bounds(cli_day, idle=idle)["costFloor"][0]["cost"]
    for market in ("on-demand", "spot"):
        for itype, run in result["baselines"][market].items():
            assert run["cost"]["total"] >= floors[itype]["cost"]
    # A shorter idle time lowers the floor; the simulated fleet stays above it.
    assert bounds(day, idle=120)["costFloor"][0]["cost"] < floors["g5.xlarge"]["cost"]
    # 40 jobs one second apart, one g5 node: job k starts at min(6.5 k, 165) s (its own extra node's
    # boot): it waits more than 60 s for k = 11..39, whatever scales out; the simulated fleet does worse.
    trace = small_trace(day, burst(600, 40))
    assert wait_floor(trace, "g5.xlarge", 60)["jobsOver"] == 29
    sim = fleet_sim.Sim(trace=trace, policy=replace(G5, min_size=1, initial_nodes=1), rng=random.Random(1))
    sim.jobs = [fleet_sim.Job(id=j["id"], at=j["at"], images=j["images"], client=j["client"])
                for j in trace["jobs"]]
    sim.run()
    assert sum(j.started - j.at > 60 for j in sim.jobs) >= 29


G6E = Policy(instance_types=("g6e.xlarge",))


def test_the_idle_sweep_is_single_replays_trading_cost_for_cold_starts(day):
    idles = [60, 120, 600]
    doc = fleet_sim.sweep_idle(day, 1, idles, G6E)
    rows = doc["rows"]
    assert [w["idleSeconds"] for w in rows] == idles
    for w in rows[1:]:  # each row is what a run with that --idle reports
        single = replay(day, 1, replace(G6E, idle_seconds=w["idleSeconds"]))
        f = single["fleet"]
        assert (w["cost"], w["costPerImage"], w["nodeHours"]) == (f["cost"]["total"], f["costPerImage"],
                                                                   f["nodeHours"])
        assert w["costVsOnDemand"] == single["costVsOnDemand"] and doc["reference"] == single["reference"]
        assert (w["warm"]["p50"], w["warm"]["p95"]) == (f["wait"]["warm"]["p50"], f["wait"]["warm"]["p95"])
        by_client = f["wait"]["coldByClient"]
        assert w["cold"] == {"jobs": f["wait"]["cold"]["jobs"], "cliP50": by_client["cli"]["p50"],
                             "otherP50": by_client["other"]["p50"]}
        assert w["jobsLost"] == f["jobsLost"] == 0 and w["targetMet"] == single["target"]["met"]
        floors = {b["type"]: b["vsReference"] for b in single["bounds"]["costFloor"]}
        assert w["costFloorVsReference"] == floors
    # A shorter idle time costs less and starts more jobs cold (on g6e only: a mixed fleet's extra
    # cold-start backlogs can bring target-tracking scale-outs that cost more than the idle time saves).
    costs, colds = [w["cost"] for w in rows], [w["cold"]["jobs"] for w in rows]
    assert costs == sorted(costs) and costs[0] < costs[-1]
    assert colds == sorted(colds, reverse=True) and colds[0] > colds[-1]
    floors = [w["costFloorVsReference"]["g6e.xlarge"] for w in rows]
    assert floors == sorted(floors)
    # On this day the g6e-only fleet meets the target with a 2-minute idle time, not with 10 minutes.
    assert rows[1]["targetMet"] and not rows[2]["targetMet"]
    # Reproducible from the seed, whatever the order of the idle times.
    assert fleet_sim.sweep_idle(day, 1, [600, 120], G6E)["rows"] == [rows[2], rows[1]]


def test_the_cli_prints_the_idle_sweep_and_rejects_bad_idle_times(capsys):
    args = ["--trace", str(TRACE), "--types", "g6e.xlarge", "--seed", "1"]
    assert fleet_sim.main([*args, "--sweep-idle", "120"]) == 0
    text = capsys.readouterr().out
    assert "idle-time sweep" in text and "cold jobs" in text and "floor g6e.xlarge" in text
    assert fleet_sim.main([*args, "--sweep-idle", "120", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [w["idleSeconds"] for w in doc["rows"]] == [120] and doc["rows"][0]["targetMet"]
    for bad in ("", "abc", "0", "60,-5", "60,,120", "nan", "inf"):
        with pytest.raises(SystemExit) as exit_:
            fleet_sim.main([*args, "--sweep-idle", bad])
        assert exit_.value.code == 2 and "--sweep-idle" in capsys.readouterr().err, bad
    with pytest.raises(SystemExit) as exit_:  # one idle time or a sweep, not both
        fleet_sim.main([*args, "--idle", "120", "--sweep-idle", "60,120"])
    assert exit_.value.code == 2 and "--sweep-idle" in capsys.readouterr().err


def run_sim(trace: dict, policy: Policy, seed: int = 1) -> fleet_sim.Sim:
    sim = fleet_sim.Sim(trace=trace, policy=policy, rng=random.Random(seed))
    sim.jobs = [fleet_sim.Job(id=j["id"], at=j["at"], images=j["images"], client=j["client"])
                for j in trace["jobs"]]
    sim.run()
    return sim


def test_a_rebalanced_node_serves_on_until_auto_scaling_ends_it_through_the_hook(day):
    # One node up (from the job at 0), a recommendation at 405 s (the notice at 1005 s, 600 s later):
    # the job at 410 s is taken by that node at once (a fleet node serves on; it used to drain). Its
    # replacement is InService 20 s after launch, and Auto Scaling then terminates the old node through
    # the hook: the job at 440 s waits for the replacement's boot.
    reclaim = {"at": 1005, "pool": "g5.xlarge/us-east-1a", "rebalanceLead": 600, "unavailableFor": 3600}
    jobs = [{"at": at, "images": 1, "client": "cli"} for at in (0, 410, 440)]
    trace = small_trace(day, jobs, [reclaim])
    sim = run_sim(trace, G5)
    _, during, after = sim.jobs
    old, new = sim.nodes
    assert (old.end_reason, new.replaces) == ("rebalanced", old.id) and old.end < reclaim["at"]
    assert not during.cold and during.started == during.at  # taken by the recommended node, no wait
    assert after.cold and after.started - after.at > 100  # the replacement's boot: InService is not READY
    assert sim.counters.jobs_handed_back == sim.counters.jobs_lost == sim.counters.notices == 0
    # A launch hook completed at READY: the old node serves until its replacement can, no gap at all.
    hooked = run_sim(trace, replace(G5, launch_hook=True))
    assert [j.cold for j in hooked.jobs] == [True, False, False]
    assert hooked.nodes[0].end_reason == "rebalanced" and hooked.nodes[0].end >= hooked.nodes[1].ready_at
