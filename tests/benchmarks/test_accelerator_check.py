"""benchmarks/accelerator_check.py: a failing section is recorded and the others still run, the budget skips what
is left, and ``--smoke`` measures every section end to end (in a subprocess, as a user runs it) with provenance."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "accelerator_check.py"


@pytest.fixture(scope="module")
def acc():
    spec = importlib.util.spec_from_file_location("accelerator_check", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def _run(acc, tmp_path, *argv):
    parser = acc.build_parser()
    args = parser.parse_args(["--smoke", "--out", str(tmp_path), *argv])
    return acc.make_run(args, acc.parse_sections(args.sections, parser), list(argv))


def _record(tmp_path, run):
    return json.loads((tmp_path / f"{run.stem}.json").read_text()), (tmp_path / f"{run.stem}.md").read_text()


def test_a_failing_section_is_recorded_and_the_others_still_run(acc, tmp_path):
    run = _run(acc, tmp_path, "--sections", "nb201,table_search,devices")

    def boom(run, data):
        raise RuntimeError("forced failure")

    def fine(run, data):
        acc.attempt(run, data, "seeds_2", lambda: {"queries_per_s": 10.0, "compile_s": 1.0})
        acc.attempt(run, data, "seeds_8", lambda: {"queries_per_s": 300.0, "compile_s": 1.0})

    def half(run, data):
        acc.attempt(run, data, "one_device", lambda: {"images_per_s_median": 5.0})
        acc.attempt(run, data, "all_devices", lambda: 1 / 0)

    acc.run_section(run, "nb201", boom)
    saved, _ = _record(tmp_path, run)  # written after every section: a killed run keeps what it had
    assert saved["sections"]["nb201"]["status"] == "error"
    acc.run_section(run, "table_search", fine)
    acc.run_section(run, "devices", half)
    data, md = _record(tmp_path, run)
    sec = data["sections"]
    assert sec["nb201"]["error"] == "RuntimeError: forced failure" and "Traceback" in sec["nb201"]["traceback"]
    assert sec["table_search"]["status"] == "ok" and sec["table_search"]["seeds_8"]["queries_per_s"] == 300.0
    assert sec["devices"]["status"] == "partial" and "ZeroDivisionError" in sec["devices"]["all_devices"]["error"]
    assert sec["darts"]["status"] == "not selected"
    assert "forced failure" in md
    assert "| table search: 8 / 2 seeds queries/s | 30.00 | >= 20.00 | n/a (smoke sizes) |" in md

    run.budget = acc.Budget(0)
    acc.run_section(run, "table_search", fine)
    assert _record(tmp_path, run)[0]["sections"]["table_search"]["status"] == "skipped"


def test_a_measurement_running_past_budget_and_grace_stops_the_process_with_its_record(acc, tmp_path, monkeypatch):
    run = _run(acc, tmp_path, "--sections", "darts")
    run.budget = acc.Budget(0.2)
    run.results["sections"]["darts"]["status"] = "running"  # as if a compile were still going on
    run.results["in_progress"] = "darts: float32 supernet"
    exits = []
    monkeypatch.setattr(acc.os, "_exit", exits.append)
    acc.start_watchdog(run, 0.1).join(timeout=30)
    assert exits == [3]
    data, md = _record(tmp_path, run)
    assert "while measuring darts: float32 supernet" in data["stopped"] and "Stopped early" in md
    assert data["sections"]["darts"]["status"] == "stopped" and data["sections"]["nb201"]["status"] == "not selected"


def test_targets_pass_and_miss(acc):
    assert acc.target_row("x", 0.8, 0.7, None)["status"] == "pass"
    assert acc.target_row("x", 0.6, 0.7, None)["status"] == "miss"
    assert acc.target_row("x", None, 0.7, None)["status"] == "not measured"
    assert acc.target_row("x", 2.0, 1.5, "not an accelerator")["status"] == "n/a (not an accelerator)"


def test_unknown_section_is_a_usage_error(acc, tmp_path, capsys):
    with pytest.raises(SystemExit):
        _run(acc, tmp_path, "--sections", "nb201,gpu")
    assert "unknown or empty ['gpu']" in capsys.readouterr().err


@pytest.mark.slow
def test_smoke_run_measures_every_section(tmp_path):
    # darts runs the same code as nb201 (space_section), but its supernet takes minutes to compile on CPU
    sections = ["nb201", "table_search", "devices"]
    # a generous budget: on a loaded CI machine no section may be skipped
    proc = subprocess.run([sys.executable, str(SCRIPT), "--smoke", "--sections", ",".join(sections),
                           "--budget-s", "800", "--out", str(tmp_path)], cwd=REPO, env=dict(os.environ),
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "section nb201 ..." in proc.stderr and "| target | measured | required | result |" in proc.stdout
    [path] = tmp_path.glob("accelerator_*_smoke.json")
    assert path.with_suffix(".md").exists()
    data = json.loads(path.read_text())
    assert data["seed"] == 0 and data["smoke"] and data["config"]["sizes"]["batch_size"] == 8
    assert {"jax", "jaxlib", "flax"} <= set(data["provenance"]["versions"])
    assert data["provenance"]["device"]["backend"] == "cpu" and data["command"].startswith("python benchmarks/")
    sec = data["sections"]
    assert all(sec[s]["status"] == "ok" for s in sections), {s: sec[s].get("error") for s in sections}
    assert sec["darts"]["status"] == "not selected"
    for dtype in ("float32", "bfloat16"):
        for variant in ("fixed", "supernet"):
            m = sec["nb201"][dtype][variant]
            assert m["images_per_s_median"] > 0 and m["compile_s"] > 0 and m["program_bytes"]["argument"] > 0
            assert m["peak_device_bytes"] is None  # CPU: not reported
    assert sec["table_search"]["seeds_2"]["queries_per_s"] > 0 and sec["table_search"]["seeds_8"]["compile_s"] > 0
    devices = sec["devices"]
    assert devices["one_device"]["devices"] == 1 and devices["one_device"]["images_per_s_median"] > 0
    if devices["local_devices"] > 1:  # the test session's two CPU devices (conftest)
        assert devices["all_devices"]["devices"] == devices["local_devices"] and devices["speedup_all_vs_one"] > 0
    else:
        assert devices["all_devices"]["status"] == "not available"
    targets = {t["target"]: t for t in data["targets"]}
    assert targets["nb201 float32: supernet / fixed images/s"]["measured"] > 0
    assert all(t["status"] in ("n/a (smoke sizes)", "not measured") for t in targets.values())
