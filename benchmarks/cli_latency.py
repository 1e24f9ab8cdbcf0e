"""End-to-end wall time of the README's ``l2nas`` commands, with a cold and a warm compilation cache.

Each command runs as a user runs it (a fresh ``l2nas`` process), first with an empty temporary
compilation cache (cold: every program is compiled and saved), then again with the same cache
(warm: every program is loaded).  Next to it: the run's own time as its results file records it
(``wall_s``: the batched run, compilation or cache loading included), how many cache entries each
run wrote (warm: should be 0), and in the same session the start-up floor: a bare
``python -c "import jax"``, ``import l2nas_jax`` and ``l2nas --help``.  The load average is
recorded too: on a shared machine, compare figures of one run with each other.

Usage: python benchmarks/cli_latency.py [--cases search,compare,sweep,constrained] [--repeats 1]
           [--out DIR] [--record]
Writes cli_latency.md and cli_latency.json into --out (benchmarks/results/ too with --record).
The user's own cache (~/.cache/l2nas-jax) is never read or written.
"""

from __future__ import annotations

from l2nas_jax.core.cpu import use_all_cpu_cores

use_all_cpu_cores()  # as the CLI does, so the recorded device is the one the commands ran on

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Sequence  # noqa: E402

from l2nas_jax.report import records  # noqa: E402

#: The README's commands (``--out``, ``--no-progress`` and ``--compile-cache`` are added per run).
CASES: dict[str, list[str]] = {
    "search": ["search"],  # the README default: 8 seeds x 1000 queries
    "compare": ["compare", "--space", "nb201", "--dataset", "cifar10", "--queries", "1000", "--seeds", "20",
                "--methods", "l2nas,rea,random,reinforce"],
    "sweep": ["sweep", "--dataset", "cifar10", "--queries", "500", "--seeds", "10", "--grid", "tau=0.8,0.9"],
    "constrained": ["search", "--space", "nb201", "--max-params", "0.6M", "--queries", "500"],
    "search-rolled": ["search"],  # the same command with JAX's default (rolled-loop) threefry, for the ratio
}
#: Extra environment of a case (the others run with the CLI's defaults).
CASE_ENV: dict[str, dict[str, str]] = {"search-rolled": {"L2NAS_ROLLED_THREEFRY": "1"}}
#: Issue 16's targets (seconds, end to end); cases without one are reported only.
TARGETS: dict[tuple[str, str], float] = {("search", "warm"): 2.5, ("search", "cold"): 8.0, ("compare", "warm"): 6.0}
RESULT_FILES = ("results.json", "compare.json", "sweep.json")


def l2nas_command() -> list[str]:
    """The installed ``l2nas`` console script next to this Python, else the module."""
    script = Path(sys.executable).with_name("l2nas")
    return [str(script)] if script.exists() else [sys.executable, "-c",
                                                  "import sys; from l2nas_jax.cli import main; sys.exit(main())"]


def timed_run(cmd: Sequence[str], env: dict[str, str], cwd: Path) -> float:
    """Wall seconds of one subprocess; a failing command stops the benchmark with its last stderr lines."""
    t = time.perf_counter()
    p = subprocess.run(list(cmd), capture_output=True, text=True, env=env, cwd=cwd)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        tail = "\n".join(p.stderr.strip().splitlines()[-5:])
        raise SystemExit(f"cli_latency: {' '.join(cmd)} failed (exit {p.returncode}):\n{tail}")
    return wall


def in_run_seconds(out: Path) -> float | None:
    """The run time the command's results file records (sum over methods), or None if it records none."""
    for name in RESULT_FILES:
        f = out / name
        if f.exists():
            data = json.loads(f.read_text())
            if "meta" in data:
                return float(data["meta"].get("wall_s", 0.0)) or None
            total = sum(float(s.get("wall_s") or 0.0) for s in data.get("summary", {}).values())
            return total or None
    return None


def cache_entries(cache: Path) -> int:
    return len(list(cache.glob("*-cache"))) if cache.is_dir() else 0


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment without a cache location or threefry choice of its own (every run names its cache
    explicitly), plus ``extra``."""
    env = dict(os.environ)
    env.pop("L2NAS_COMPILE_CACHE", None)
    env.pop("L2NAS_ROLLED_THREEFRY", None)
    return {**env, **(extra or {})}


def bench_case(name: str, args: list[str], repeats: int, work: Path) -> dict[str, Any]:
    """Cold run (fresh cache), then ``repeats`` warm runs (median) of one command."""
    cache = work / f"cache-{name}"
    extra = CASE_ENV.get(name, {})
    prefix = "".join(f"{k}={v} " for k, v in extra.items())
    row: dict[str, Any] = {"command": prefix + "l2nas " + " ".join(args)}
    for phase, n in (("cold", 1), ("warm", repeats)):
        walls, inner, written = [], [], []
        for i in range(n):
            out = work / f"{name}-{phase}-{i}"
            before = cache_entries(cache)
            cmd = [*l2nas_command(), *args, "--out", str(out), "--no-progress", "--compile-cache", str(cache)]
            walls.append(timed_run(cmd, child_env(extra), work))
            inner.append(in_run_seconds(out))
            written.append(cache_entries(cache) - before)
            shutil.rmtree(out, ignore_errors=True)
        inner_known = [s for s in inner if s is not None]
        row[phase] = {"wall_s": round(statistics.median(walls), 2), "walls_s": [round(w, 2) for w in walls],
                      "in_run_s": round(statistics.median(inner_known), 2) if inner_known else None,
                      "entries_written": written}
        target = TARGETS.get((name, phase))
        if target is not None:
            row[phase]["target_s"] = target
            row[phase]["meets_target"] = row[phase]["wall_s"] <= target
        print(f"  {name:<12} {phase}: {row[phase]['wall_s']:7.2f} s end to end, in-run "
              f"{row[phase]['in_run_s']} s, {sum(written)} cache entries written", flush=True)
    row["cache_mb"] = round(sum(f.stat().st_size for f in cache.glob("*-cache")) / 2**20, 2)
    return row


def startup_floor(work: Path, repeats: int) -> dict[str, float]:
    """Median wall seconds of bare start-ups: ``import jax``, ``import l2nas_jax``, ``l2nas --help``."""
    probes = {
        "python -c 'import jax'": [sys.executable, "-c", "import jax"],
        "python -c 'import l2nas_jax'": [sys.executable, "-c", "import l2nas_jax"],
        "l2nas --help": [*l2nas_command(), "--help"],
    }
    return {label: round(statistics.median(timed_run(cmd, child_env(), work) for _ in range(repeats)), 3)
            for label, cmd in probes.items()}


def markdown(rows: dict[str, dict], floor: dict[str, float], meta: dict[str, Any]) -> str:
    """The results table (one line per command) and the start-up floor."""
    def cell(r: dict, phase: str) -> str:
        ok = r[phase].get("meets_target")
        mark = "" if ok is None else (f" (target {r[phase]['target_s']:g} s: {'met' if ok else 'missed'})")
        return f"{r[phase]['wall_s']:.2f}{mark}"

    def inner(r: dict, phase: str) -> str:
        v = r[phase]["in_run_s"]
        return "n/a" if v is None else f"{v:.2f}"

    lines = [
        "# `l2nas` end-to-end latency: cold vs warm compilation cache",
        "",
        f"Generated {meta['generated']} by `{meta['command']}`; {meta['device']}; load average "
        f"{meta['load_before']} before, {meta['load_after']} after (a shared machine: compare within this table).",
        "",
        "Each command is a fresh `l2nas` process: *cold* = empty compilation cache, *warm* = the same command "
        "again (every program loaded from the cache). *In-run* = the batched run as the results file records "
        "it (`wall_s`, compilation or cache loading included; n/a when the file records none).",
        "",
        "| command | cold: end to end s | cold: in-run s | warm: end to end s | warm: in-run s | entries written cold / warm | cache MB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows.values():
        lines.append(f"| `{r['command']}` | {cell(r, 'cold')} | {inner(r, 'cold')} | {cell(r, 'warm')} | "
                     f"{inner(r, 'warm')} | {sum(r['cold']['entries_written'])} / {sum(r['warm']['entries_written'])} "
                     f"| {r['cache_mb']} |")
    if "search" in rows and "search-rolled" in rows:
        a, b = rows["search"], rows["search-rolled"]
        lines += ["", "Threefry lowered unrolled (the default, `l2nas_jax/core/threefry.py`) vs JAX's rolled loop, "
                  "`l2nas search` end to end: cold " + f"{a['cold']['wall_s']:.2f} vs {b['cold']['wall_s']:.2f} s "
                  f"(x{a['cold']['wall_s'] / b['cold']['wall_s']:.2f}), warm {a['warm']['wall_s']:.2f} vs "
                  f"{b['warm']['wall_s']:.2f} s (x{a['warm']['wall_s'] / b['warm']['wall_s']:.2f})."]
    lines += ["", "Start-up floor in the same session (median wall s):", ""]
    lines += [f"* `{label}`: {s:.2f} s" for label, s in floor.items()]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", default=",".join(CASES), help=f"comma-separated subset of {','.join(CASES)}")
    p.add_argument("--repeats", type=int, default=1, help="warm runs per command (median; default 1)")
    p.add_argument("--floor-repeats", type=int, default=3, help="runs of each start-up probe (median; default 3)")
    p.add_argument("--seed", type=int, default=0, help="recorded; every command runs with the CLI's default seed 0")
    records.add_output_args(p, "cli_latency")
    a = p.parse_args(argv)
    cases = [c.strip() for c in a.cases.split(",") if c.strip()]
    unknown = sorted(set(cases) - set(CASES))
    if unknown or not cases or a.repeats < 1 or a.floor_repeats < 1:
        p.error(f"--cases from {','.join(CASES)} (unknown: {','.join(unknown) or 'none'}); repeats >= 1")

    load_before = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="l2nas-cli-latency-") as tmp:
        work = Path(tmp)
        print("start-up floor ...", flush=True)
        floor = startup_floor(work, a.floor_repeats)
        for label, s in floor.items():
            print(f"  {label:<30} {s:.2f} s", flush=True)
        rows = {}
        for name in cases:
            print(f"{name} ...", flush=True)
            rows[name] = bench_case(name, CASES[name], a.repeats, work)
    load_after = [round(x, 2) for x in os.getloadavg()]

    command = records.command_line("benchmarks/cli_latency.py", argv)
    from l2nas_jax.core.provenance import provenance

    dev = provenance()["device"]
    meta = {"generated": records.utc_now(), "command": command, "load_before": load_before, "load_after": load_after,
            "device": f"{dev['backend']} x{dev['device_count']} ({dev['processor']}, {os.cpu_count()} CPUs)"}
    config = {"cases": {n: CASES[n] for n in cases}, "case_env": {n: CASE_ENV[n] for n in cases if n in CASE_ENV},
              "repeats": a.repeats, "floor_repeats": a.floor_repeats,
              "targets_s": {f"{k[0]}/{k[1]}": v for k, v in TARGETS.items()}}
    md = markdown(rows, floor, meta)
    print("\n" + md)
    records.save(records.Record(stem="cli_latency", command=command, seed=a.seed, config=config,
                                data={"rows": rows, "startup_floor_s": floor, "load_before": load_before,
                                      "load_after": load_after},
                                markdown=md),
                 a, Path(__file__).parent / "results")


if __name__ == "__main__":
    main()
