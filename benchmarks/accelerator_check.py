"""One-command accelerator check: supernet vs fixed-network images/s, fp32 vs bf16, devices, table search.

Measures in one process, and prints next to the targets it is held to (pass / miss):

* ``nb201``: a train step of the NB201 supernet (TinyNetwork C=16, N=5; a new random path each step)
  and of the fixed derived network of one architecture (drawn with ``--seed``), 32 px, batch 64:
  compile time, images/s, the compiled step's memory and the device's peak memory, in float32 and
  bfloat16 (:func:`supernet_speed.measure`, the code of ``benchmarks/supernet_speed.py``);
* ``darts``: the same for the DARTS search supernet (8 cells, C=16) and its fixed derived network;
* ``devices``: the NB201 supernet step with the global batch split over 1 and over all local devices;
* ``table_search``: L2NAS on the embedded NB201 table (CIFAR-10), 16 and 1024 seeds vmapped x 1000
  queries: compile time and queries/s (:func:`nb201_speed.time_seeds`).

Targets: a single-path supernet step >= 70 % of the fixed network's images/s; bfloat16 >= 1.5x the
float32 images/s (accelerators only); the 1024-seed search >= 20x the queries/s of the 16-seed one.

Built for one unattended run: each section, and each measurement in it, runs in its own
try/except and records its error; once ``--budget-s`` seconds have passed (imports included),
what is left is recorded as skipped, and a measurement still running ``--grace-s`` seconds later
(a long compile) stops the process (exit code 3) after recording where it stopped; progress goes
to stderr as it happens; the results files are rewritten (atomically) after every measurement, so
a killed run still leaves the figures it had.

Usage::

    python benchmarks/accelerator_check.py                         # full sizes: at most ~8 minutes (420 s + 60 s)
    python benchmarks/accelerator_check.py --smoke --out /tmp/acc  # the same code at tiny sizes on CPU

Writes ``<out>/accelerator_<device>.json`` and ``.md`` (``--smoke``: ``accelerator_<device>_smoke.*``),
``<out>`` defaulting to benchmarks/results/, ``<device>`` the device kind (``cpu``, ``nvidia_h100_80gb_hbm3``, ...).
"""

from __future__ import annotations

from l2nas_jax.core.cpu import use_all_cpu_cores

use_all_cpu_cores()

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import functools  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable, Mapping, Sequence  # noqa: E402

PROCESS_START = time.perf_counter()  # the budget counts the imports of JAX and the library too

import jax  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling benchmarks, also when imported by path
import nb201_speed  # noqa: E402
import supernet_speed  # noqa: E402

from l2nas_jax.core.threefry import unroll_on_cpu  # noqa: E402
from l2nas_jax.report import records  # noqa: E402
from l2nas_jax.spaces import get_space  # noqa: E402
from l2nas_jax.supernet import sharding, train  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
#: the sections in the order they run: the cheap and most asked-for first, the DARTS compiles last
SECTIONS = ("nb201", "table_search", "devices", "darts")
DTYPES = ("float32", "bfloat16")
SUPERNET_VS_FIXED, BF16_VS_FP32, MANY_VS_FEW_SEEDS = 0.70, 1.5, 20.0
ACCELERATORS = ("gpu", "tpu")
SectionFn = Callable[["Run", dict], None]


@dataclasses.dataclass(frozen=True)
class Sizes:
    """Network, batch, timing and search sizes of one run."""

    nets: Mapping[str, tuple[int, int]]  # space -> (channels, layers)
    image_size: int
    batch_size: int
    steps: int
    warmup: int
    repeats: int
    seeds: tuple[int, int]  # the table search's few and many seeds
    queries: int
    search_repeats: int
    fast_compile: bool


FULL = Sizes(nets={"nb201": (16, 5), "darts": (16, 8)}, image_size=32, batch_size=64, steps=20, warmup=3,
             repeats=3, seeds=(16, 1024), queries=1000, search_repeats=3, fast_compile=False)
SMOKE = Sizes(nets={"nb201": (4, 1), "darts": (4, 3)}, image_size=8, batch_size=8, steps=2, warmup=1, repeats=1,
              seeds=(2, 8), queries=20, search_repeats=1, fast_compile=True)


class Budget:
    """Wall-clock seconds of ``--budget-s``: a measurement starts only while its estimate fits."""

    def __init__(self, seconds: float, start: float | None = None) -> None:
        self.seconds, self.start = float(seconds), time.perf_counter() if start is None else start

    def elapsed(self) -> float:
        """Seconds since the check started."""
        return time.perf_counter() - self.start

    def allows(self, estimate_s: float = 0.0) -> bool:
        """Whether a measurement expected to take ``estimate_s`` seconds still fits."""
        return self.elapsed() + estimate_s < self.seconds

    def reason(self) -> str:
        """Why a measurement was skipped."""
        return f"time budget ({self.seconds:.0f} s) spent after {self.elapsed():.0f} s"


@dataclasses.dataclass
class Run:
    """One check: its settings, its budget, the results so far and where they are written."""

    sizes: Sizes
    budget: Budget
    out_dir: Path
    stem: str
    seed: int
    command: str
    results: dict[str, Any]
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False)

    def log(self, message: str) -> None:
        """A progress line on stderr, stamped with the seconds elapsed."""
        print(f"[accelerator_check {self.budget.elapsed():6.1f} s] {message}", file=sys.stderr, flush=True)

    def save(self) -> None:
        """Rewrite the JSON and Markdown files (atomically) with everything measured so far."""
        with self.lock:
            self._write()

    def _write(self) -> None:
        self.results["wall_s"] = round(self.budget.elapsed(), 1)
        self.results["targets"] = targets(self.results)
        data = {k: v for k, v in self.results.items() if k != "config"}
        try:
            markdown = to_markdown(self.results, self.command)
        except Exception as e:  # noqa: BLE001 -- a report bug must not lose the figures (the JSON has them)
            markdown = f"# Accelerator check\n\nThe report failed ({type(e).__name__}: {e}); see {self.stem}.json.\n"
        records.write_record(records.Record(stem=self.stem, command=self.command, seed=self.seed,
                                            config=self.results["config"], data=data, markdown=markdown),
                             self.out_dir)


# ----------------------------------------------------------------------------------------- helpers


def bf16_available() -> bool:
    """Whether ``TrainConfig`` has the ``dtype`` field (bfloat16 compute, float32 parameters)."""
    return "dtype" in {f.name for f in dataclasses.fields(train.TrainConfig)}


def device_slug() -> str:
    """The first local device's kind as a file-name part, e.g. ``cpu`` or ``nvidia_h100_80gb_hbm3``."""
    dev = jax.local_devices()[0]
    kind = "cpu" if dev.platform == "cpu" else str(dev.device_kind)
    return re.sub(r"[^a-z0-9]+", "_", kind.lower()).strip("_") or dev.platform


def peak_device_bytes() -> int | None:
    """The first local device's peak memory in use so far (``memory_stats``); None where not reported (CPU)."""
    try:
        stats = jax.local_devices()[0].memory_stats()
    except Exception:  # noqa: BLE001 -- backends without memory statistics
        return None
    return int(stats["peak_bytes_in_use"]) if stats and "peak_bytes_in_use" in stats else None


def error_record(e: BaseException) -> dict[str, Any]:
    """A failed measurement: its error line and the end of its traceback."""
    return {"status": "error", "error": f"{type(e).__name__}: {e}"[:2000],
            "traceback": traceback.format_exc()[-4000:]}


def attempt(run: Run, data: dict, key: str, measure: Callable[[], dict[str, Any]], estimate_s: float = 0.0,
            label: str | None = None) -> dict:
    """Run one measurement into ``data[key]``: its figures, its error, or skipped (budget); then save."""
    label = label or key
    if not run.budget.allows(estimate_s):
        data[key] = {"status": "skipped", "reason": run.budget.reason()}
        run.log(f"{label}: skipped ({data[key]['reason']})")
    else:
        run.results["in_progress"] = f"{run.results['in_progress'].split(':')[0]}: {label}"
        run.log(f"{label} ...")
        try:
            data[key] = {"status": "ok", **measure()}
            run.log(f"{label}: {summary(data[key])}")
        except Exception as e:  # noqa: BLE001 -- recorded; the other measurements go on
            data[key] = error_record(e)
            run.log(f"{label}: FAILED {data[key]['error']}")
    run.save()
    return data[key]


def summary(m: Mapping[str, Any]) -> str:
    """A one-line progress summary of a measurement."""
    keys = ("compile_s", "images_per_s_median", "queries_per_s", "peak_device_bytes")
    return ", ".join(f"{k} {m[k]}" for k in keys if k in m)


def statuses(data: Any) -> list[str]:
    """The ``status`` of every measurement nested in a section's data."""
    if not isinstance(data, dict):
        return []
    own = [data["status"]] if isinstance(data.get("status"), str) else []
    return own + [s for v in data.values() for s in statuses(v)]


def figure(sections: Mapping[str, Any], *path: str, key: str) -> float | None:
    """``key`` of the measurement at ``path`` if it succeeded, else None."""
    node: Any = sections
    for p in path:
        node = node.get(p) if isinstance(node, dict) else None
    return node.get(key) if isinstance(node, dict) and node.get("status") == "ok" else None


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b rounded, or None when either is missing."""
    return round(a / b, 3) if a is not None and b else None


# ----------------------------------------------------------------------------------------- sections


def measure_step(run: Run, model: Any, arch_fn: Callable | None, dtype: str,
                 mesh: jax.sharding.Mesh | None = None) -> dict[str, Any]:
    """:func:`supernet_speed.measure` of one train step at this run's sizes, plus the device's peak memory."""
    s = run.sizes
    config = supernet_speed.bench_config(s.batch_size, s.image_size, run.seed, dtype)
    out = supernet_speed.measure(model, arch_fn, config, s.image_size, steps=s.steps, warmup=s.warmup,
                                 repeats=s.repeats, fast_compile=s.fast_compile, seed=run.seed, mesh=mesh,
                                 memory=True)
    return {**out, "devices": int(mesh.devices.size) if mesh is not None else len(jax.devices()),
            "peak_device_bytes": peak_device_bytes()}


def space_models(space_name: str, sizes: Sizes, seed: int) -> tuple[dict[str, tuple[Any, Callable | None]], str]:
    """The fixed network and the supernet of a space (model, arch_fn) at these sizes, and the fixed arch."""
    space = get_space(space_name)
    channels, layers = sizes.nets[space_name]
    arch = np.asarray(space.random_arch(jax.random.key(seed)))
    fixed = supernet_speed.fixed_network(space_name, arch, channels, layers, 10)
    supernet = space.supernet(channels=channels, layers=layers, num_classes=10)
    return {"fixed": (fixed, None), "supernet": (supernet, space.random_arch)}, space.to_string(arch)


def space_section(space_name: str) -> SectionFn:
    """The section measuring a space's fixed network and supernet in float32 and bfloat16."""

    def section(run: Run, data: dict) -> None:
        models, arch = space_models(space_name, run.sizes, run.seed)
        channels, layers = run.sizes.nets[space_name]
        data.update(net={"channels": channels, "layers": layers, "image_size": run.sizes.image_size,
                         "num_classes": 10}, batch_size=run.sizes.batch_size, fixed_arch=arch)
        for dtype in DTYPES:
            if dtype != "float32" and not bf16_available():
                data[dtype] = {"status": "not available", "reason": "this version's TrainConfig has no dtype field"}
                continue
            data[dtype] = {}
            for variant, (model, arch_fn) in models.items():
                before = figure(data, "float32", variant, key="compile_s") or 0.0  # the same compile, other dtype
                attempt(run, data[dtype], variant, functools.partial(measure_step, run, model, arch_fn, dtype), before,
                        f"{dtype} {variant}")

    return section


def devices_section(run: Run, data: dict) -> None:
    """The NB201 supernet step (float32) with the batch split over 1 and over all local devices."""
    devices = jax.local_devices()
    data.update(local_devices=len(devices), device_kind=str(devices[0].device_kind), space="nb201",
                batch_size=run.sizes.batch_size)
    models, _ = space_models("nb201", run.sizes, run.seed)
    model, arch_fn = models["supernet"]
    # the nb201 section's float32 supernet step already ran over all devices: the same program, not re-measured
    same = run.results["sections"].get("nb201", {}).get("float32", {}).get("supernet", {})
    for key, devs in (("one_device", devices[:1]), ("all_devices", devices)):
        if key == "all_devices" and len(devices) == 1:
            data[key] = {"status": "not available", "reason": "only one local device"}
        elif run.sizes.batch_size % len(devs):
            data[key] = {"status": "error", "error": f"batch {run.sizes.batch_size} does not split over "
                                                     f"{len(devs)} devices"}
        elif same.get("status") == "ok" and same.get("devices") == len(devs) == len(jax.devices()):
            data[key] = {**same, "reused_from": "nb201 / float32 / supernet (the same step on the same devices)"}
        else:
            mesh = sharding.make_mesh(devs)
            estimate = figure(data, "one_device", key="compile_s") or 0.0
            attempt(run, data, key, functools.partial(measure_step, run, model, arch_fn, "float32", mesh), estimate)
    one, every = (figure(data, k, key="images_per_s_median") for k in ("one_device", "all_devices"))
    data["speedup_all_vs_one"] = ratio(every, one)


def table_section(run: Run, data: dict) -> None:
    """L2NAS (default config) on the embedded NB201 table: few and many seeds vmapped, queries/s."""
    from l2nas_jax.agent.search import L2NASConfig
    from l2nas_jax.api import build_env

    s = run.sizes
    cfg = L2NASConfig()
    search = nb201_speed.make_run(build_env("nb201", "cifar10"), cfg, s.queries)
    data.update(dataset="cifar10", queries=s.queries, repeats=s.search_repeats, l2nas_config=dataclasses.asdict(cfg))
    for n in s.seeds:
        def timing(n: int = n) -> dict[str, Any]:
            compile_s, run_s, _ = nb201_speed.time_seeds(search, run.seed, n, s.search_repeats)
            figures = nb201_speed.seeds_record(n, s.queries, compile_s, run_s)
            return {**figures, "peak_device_bytes": peak_device_bytes()}

        estimate = figure(data, f"seeds_{s.seeds[0]}", key="compile_s") or 0.0
        attempt(run, data, f"seeds_{n}", timing, estimate if n != s.seeds[0] else 0.0)


SECTION_FNS: dict[str, SectionFn] = {"nb201": space_section("nb201"), "darts": space_section("darts"),
                                     "devices": devices_section, "table_search": table_section}


def run_section(run: Run, name: str, fn: SectionFn) -> None:
    """Run one section in its own try/except (or skip it: budget), record its status and save."""
    data = run.results["sections"][name]
    if not run.budget.allows():
        data.update(status="skipped", reason=run.budget.reason())
        run.log(f"section {name}: skipped ({data['reason']})")
        run.save()
        return
    run.log(f"section {name} ...")
    data["status"], t = "running", time.perf_counter()
    run.results["in_progress"] = name
    try:
        fn(run, data)
        inner = statuses({k: v for k, v in data.items() if k != "status"})
        data["status"] = "ok" if all(s in ("ok", "not available") for s in inner) else "partial"
    except Exception as e:  # noqa: BLE001 -- recorded; the other sections go on
        data.update(error_record(e))
        run.log(f"section {name}: FAILED {data['error']}")
    data["wall_s"] = round(time.perf_counter() - t, 1)
    run.results["in_progress"] = ""
    run.log(f"section {name}: {data['status']} in {data['wall_s']} s")
    run.save()


def start_watchdog(run: Run, grace_s: float) -> threading.Thread:
    """Stop the process ``grace_s`` seconds after the budget if a measurement (a long compile) still runs."""

    def watch() -> None:
        while run.budget.elapsed() < run.budget.seconds + grace_s:
            time.sleep(min(1.0, max(0.05, run.budget.seconds + grace_s - run.budget.elapsed())))
        stop(run, f"stopped {grace_s:.0f} s past the budget, at {run.budget.elapsed():.0f} s, while measuring "
                  f"{run.results.get('in_progress') or '-'}")

    thread = threading.Thread(target=watch, name="accelerator_check-watchdog", daemon=True)
    thread.start()
    return thread


def stop(run: Run, message: str) -> None:
    """Record why the check stopped, mark what was running or pending, write the files and exit (code 3)."""
    run.log(message)
    run.results["stopped"] = message
    for data in run.results["sections"].values():
        if data.get("status") in ("running", "pending"):
            data.update(status="stopped" if data["status"] == "running" else "skipped", reason=message)
    for _ in range(3):  # the main thread may be changing the results right now: try again
        try:
            run.save()
            break
        except RuntimeError:
            time.sleep(0.2)
    os._exit(3)


# ----------------------------------------------------------------------------------------- targets


def target_row(name: str, measured: float | None, threshold: float, applies: str | None) -> dict[str, Any]:
    """One target: the measured ratio, the threshold, pass / miss (or why it does not apply)."""
    if measured is None:
        status = "not measured"
    elif applies is not None:
        status = f"n/a ({applies})"
    else:
        status = "pass" if measured >= threshold else "miss"
    return {"target": name, "measured": measured, "threshold": threshold, "status": status}


def targets(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every target of the issue against the figures measured so far."""
    sections, smoke = results["sections"], results["smoke"]
    accel = results["device"]["backend"] in ACCELERATORS
    why = "smoke sizes" if smoke else None
    rows = []
    for space in ("nb201", "darts"):
        for dtype in DTYPES:
            sup, fixed = (figure(sections, space, dtype, v, key="images_per_s_median") for v in ("supernet", "fixed"))
            rows.append(target_row(f"{space} {dtype}: supernet / fixed images/s", ratio(sup, fixed),
                                   SUPERNET_VS_FIXED, why))
        for variant in ("fixed", "supernet"):
            bf, fp = (figure(sections, space, d, variant, key="images_per_s_median") for d in ("bfloat16", "float32"))
            rows.append(target_row(f"{space} {variant}: bfloat16 / float32 images/s", ratio(bf, fp), BF16_VS_FP32,
                                   why or (None if accel else "not an accelerator")))
    few, many = results["sizes"]["seeds"]
    q = [figure(sections, "table_search", f"seeds_{n}", key="queries_per_s") for n in (few, many)]
    rows.append(target_row(f"table search: {many} / {few} seeds queries/s", ratio(q[1], q[0]), MANY_VS_FEW_SEEDS,
                           why))
    return rows


# ----------------------------------------------------------------------------------------- report


def _num(x: Any, fmt: str = "{:,.1f}") -> str:
    return "-" if x is None else fmt.format(x)


def _mb(x: int | None) -> str:
    return "n/a" if x is None else f"{x / 2**20:,.1f}"


def _program_mb(m: Mapping[str, Any]) -> str:
    p = m.get("program_bytes")
    return "n/a" if not p else _mb(p.get("argument", 0) + p.get("temp", 0))


def _cell(m: Any) -> str:
    """A measurement's status for a table row that has no figures."""
    if not isinstance(m, dict):
        return "-"
    return m.get("error") or m.get("reason") or m.get("status", "-")


def targets_table(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The targets as a Markdown table: measured ratio, threshold, pass / miss."""
    return ["| target | measured | required | result |", "|---|---:|---:|---|",
            *(f"| {t['target']} | {_num(t['measured'], '{:.2f}')} | >= {t['threshold']:.2f} | {t['status']} |"
              for t in rows)]


def step_rows(sections: Mapping[str, Any]) -> list[str]:
    """Markdown rows of the supernet / fixed-network measurements."""
    rows = []
    for space in ("nb201", "darts"):
        sec = sections.get(space, {})
        for dtype in DTYPES:
            node = sec.get(dtype)
            for variant in ("fixed", "supernet"):
                m = node.get(variant) if isinstance(node, dict) and "status" not in node else node
                if isinstance(m, dict) and m.get("status") == "ok":
                    rows.append(f"| {space} | {dtype} | {variant} | {_num(m.get('params'), '{:,}')} | "
                                f"{_num(m.get('compile_s'))} | {_num(m.get('step_ms_median'), '{:.2f}')} | "
                                f"{_num(m.get('images_per_s_median'))} / {_num(m.get('images_per_s_best'))} | "
                                f"{_program_mb(m)} | {_mb(m.get('peak_device_bytes'))} |")
                else:
                    rows.append(f"| {space} | {dtype} | {variant} | {_cell(m or sec)} ||||||")
    return rows


def to_markdown(res: Mapping[str, Any], command: str) -> str:
    """The human-readable report: targets first, then every figure and every section's status."""
    d, sec = res["device"], res["sections"]
    lines = [f"# Accelerator check: {d['kind']} ({d['backend']}, {d['local_devices']} local device(s))", ""]
    if res["smoke"]:
        lines += ["**SMOKE run**: tiny sizes, meant to test the script; the figures measure nothing.", ""]
    if res.get("stopped"):
        lines += [f"**Stopped early**: {res['stopped']}.", ""]
    lines += [f"Seed {res['seed']}; budget {res['budget_s']:.0f} s, wall {res['wall_s']:.0f} s; "
              f"fast_compile={res['sizes']['fast_compile']}; JAX {res['jax']}. "
              f"Images/s: median of {res['sizes']['repeats']} timings of {res['sizes']['steps']} steps. "
              "Peak device memory is the process's peak so far (n/a on CPU); program MB: the compiled step's "
              "arguments + temporaries (XLA's memory analysis).", "",
              "## Targets", "", *targets_table(res["targets"])]
    lines += ["", "## Train steps: supernet (random path each step) vs fixed derived network", "",
              "| space | dtype | variant | params | compile s | step ms | images/s (median / best) | program MB "
              "| peak device MB |", "|---|---|---|---:|---:|---:|---:|---:|---:|", *step_rows(sec), ""]
    lines += [f"- {s}: C={sec[s]['net']['channels']}, layers {sec[s]['net']['layers']}, "
              f"{sec[s]['net']['image_size']} px, batch {sec[s]['batch_size']}; fixed arch `{sec[s]['fixed_arch']}`"
              for s in ("nb201", "darts") if "net" in sec.get(s, {})]
    lines += ["", "## Devices (NB201 supernet, float32, global batch split over the devices)", "",
              "| devices | compile s | images/s (median) | peak device MB |", "|---|---:|---:|---:|"]
    dev = sec.get("devices", {})
    for key in ("one_device", "all_devices"):
        m = dev.get(key)
        if isinstance(m, dict) and m.get("status") == "ok":
            lines.append(f"| {_num(m.get('devices'), '{}')} | {_num(m.get('compile_s'))} | "
                         f"{_num(m.get('images_per_s_median'))} | {_mb(m.get('peak_device_bytes'))} |")
        else:
            lines.append(f"| {key.replace('_', ' ')} | {_cell(m or dev)} ||||")
    lines += ["", f"Speed-up all / one device: {_num(dev.get('speedup_all_vs_one'), '{:.2f}')}", "",
              "## L2NAS table search (NB201, CIFAR-10, default config, seeds vmapped)", "",
              "| seeds | queries | compile s | run s | queries/s | peak device MB |", "|---:|---:|---:|---:|---:|---:|"]
    tab = sec.get("table_search", {})
    for n in res["sizes"]["seeds"]:
        m = tab.get(f"seeds_{n}")
        if isinstance(m, dict) and m.get("status") == "ok":
            lines.append(f"| {n} | {res['sizes']['queries']} | {_num(m.get('compile_s'))} | "
                         f"{_num(m.get('run_s'), '{:.3f}')} | {_num(m.get('queries_per_s'), '{:,.0f}')} | "
                         f"{_mb(m.get('peak_device_bytes'))} |")
        else:
            lines.append(f"| {n} | {_cell(m or tab)} |||||")
    lines += ["", "## Sections", "", "| section | status | wall s | note |", "|---|---|---:|---|"]
    for name in SECTIONS:
        s = sec[name]
        note = (s.get("error") or s.get("reason") or "").replace("|", "/").replace("\n", " ")[:300]
        lines.append(f"| {name} | {s['status']} | {_num(s.get('wall_s'))} | {note} |")
    lines += ["", f"Command: `{command}`", ""]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true",
                   help="tiny sizes, to test the script on CPU (minutes, most of them compiling the DARTS supernet)")
    p.add_argument("--budget-s", type=float, default=420.0,
                   help="wall-clock budget; sections and measurements not started by then are skipped (default 420)")
    p.add_argument("--grace-s", type=float, default=60.0,
                   help="a measurement still running this long after the budget (a long compile) stops the process, "
                        "which writes what it has and exits with code 3 (default 60)")
    p.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated subset of {', '.join(SECTIONS)}")
    p.add_argument("--out", type=Path, default=RESULTS, help="directory for the results (default benchmarks/results/)")
    p.add_argument("--seed", type=int, default=0, help="draws the fixed architectures and the search seeds")
    return p


def parse_sections(text: str, parser: argparse.ArgumentParser) -> list[str]:
    """The chosen sections, in run order; unknown names are a usage error."""
    chosen = {s.strip() for s in text.split(",") if s.strip()}
    bad = sorted(chosen - set(SECTIONS))
    if bad or not chosen:
        parser.error(f"--sections: unknown or empty {bad}; valid: {', '.join(SECTIONS)}")
    return [s for s in SECTIONS if s in chosen]


def initial_results(args: argparse.Namespace, sizes: Sizes, chosen: Sequence[str]) -> dict[str, Any]:
    """The results before any measurement: settings, device, and every section's initial status."""
    dev = jax.local_devices()[0]
    return {
        "smoke": args.smoke, "seed": args.seed, "budget_s": args.budget_s, "jax": jax.__version__,
        "config": {"sizes": dataclasses.asdict(sizes), "sections": list(chosen), "budget_s": args.budget_s,
                   "bf16_available": bf16_available()},
        "sizes": dataclasses.asdict(sizes),
        "device": {"backend": jax.default_backend(), "kind": str(dev.device_kind), "local_devices":
                   jax.local_device_count(), "process_count": jax.process_count()},
        "cpu_count": os.cpu_count(), "load_before": [round(x, 2) for x in os.getloadavg()], "in_progress": "",
        "sections": {name: {"status": "pending" if name in chosen else "not selected"} for name in SECTIONS},
    }


def make_run(args: argparse.Namespace, chosen: Sequence[str], argv: list[str] | None = None) -> Run:
    """A check with the parsed command line's settings, nothing measured yet."""
    sizes = SMOKE if args.smoke else FULL
    stem = f"accelerator_{device_slug()}" + ("_smoke" if args.smoke else "")
    return Run(sizes=sizes, budget=Budget(args.budget_s, PROCESS_START), out_dir=args.out, stem=stem,
               seed=args.seed, command=records.command_line("benchmarks/accelerator_check.py", argv),
               results=initial_results(args, sizes, chosen))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    chosen = parse_sections(args.sections, parser)
    unroll_on_cpu()  # as the CLI does (CPU only): the same random bits, compiled faster
    run = make_run(args, chosen, argv)
    run.log(f"{run.results['device']} -> {args.out / run.stem}.json/.md; sections {', '.join(chosen)}")
    run.save()
    start_watchdog(run, args.grace_s)
    for name in chosen:
        run_section(run, name, SECTION_FNS[name])
    run.results["load_after"] = [round(x, 2) for x in os.getloadavg()]
    run.save()
    print("\n".join(targets_table(run.results["targets"])))
    print(f"wrote {args.out / run.stem}.json and .md in {run.budget.elapsed():.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
