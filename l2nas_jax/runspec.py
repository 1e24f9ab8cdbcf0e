"""One search run, described once: a frozen, validated :class:`RunSpec` with an exact JSON form.

A RunSpec names everything that determines a run's result -- the space, dataset and
evaluator (the embedded or a given table, a trained supernet, or a fitted predictor),
the method and its complete config, queries, seeds, base seed, noise, constraints,
Pareto mode, query accounting -- plus how often it is checkpointed.  It is validated
once, at construction: every value has its type (``"0.9"`` is not a number, ``1.0`` is
not an integer, bools are not numbers), every float is finite, seeds and budgets are
in range, and unknown config keys are refused, each with one ``ValueError`` line
naming the field.  ``to_json()`` / ``from_json()`` round-trip exactly; the CLI writes
the spec as ``run.json`` and ``--resume`` reads it back, and a checkpoint stores it to
refuse resuming a different run (:mod:`l2nas_jax.checkpoint`).

:func:`l2nas_jax.api.run_spec` runs one.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Callable, Mapping

from l2nas_jax import methods, runner
from l2nas_jax.core import io, validate
from l2nas_jax.envs.constrained import parse_budget, parse_limits
from l2nas_jax.envs.latency import COLUMN as LATENCY_COLUMN, parse_latency
from l2nas_jax.envs.table import NOISE_MODELS
from l2nas_jax.trajectory import INCUMBENT_RULES
from l2nas_jax.spaces import check_space
from l2nas_jax.wrappers.pareto import LAMBDA_RANGE

#: ``kind`` of a RunSpec's JSON object (a ``run.json`` written by something else is refused).
TABLE_SPACE = "table"  # the space built from a user's table file (l2nas_jax.spaces.table)
KIND = "l2nas-search-run"
VERSION = 1
#: JAX keys keep a seed's low 32 bits (x64 is off): a larger seed would silently repeat another run.
MAX_SEED = 2**32 - 1

#: Names a field in error messages: the field itself, or e.g. its command-line flag.
Label = Callable[[str], str]


def field_label(name: str) -> str:
    """The default :data:`Label`: the field's own name."""
    return name


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """Everything that defines one search run (see the module docstring); validated at construction.

    ``config`` is the method's config dataclass; a dict of overrides or ``None`` (the
    defaults) is converted to it.  Paths are kept as given (``str``).  ``lambda_range``
    is filled with the default range when ``pareto`` is set and must be ``None`` otherwise.
    ``checkpoint_every`` is the number of queries between checkpoints (0: none).
    """

    space: str = "nb201"
    dataset: str = "cifar10"
    method: str = "l2nas"
    config: Any = None  # the method's config dataclass (a dict of overrides / None are converted)
    queries: int = 1000
    seeds: int = 1
    seed: int = 0
    table: str | None = None  # a table file (NB201 .csv/.npz/.pth); None: the embedded table
    supernet: str | None = None  # a train/supernet.py run directory: the supernet is the evaluator
    supernet_images: int | None = 2048  # held-out images per supernet evaluation (None: all)
    data_dir: str | None = None  # tensorflow-datasets directory of the supernet's dataset
    predictor: str | None = None  # a fitted accuracy predictor file: the predictor is the evaluator
    noise_sigma: float = 0.0  # Gaussian noise (accuracy points) on the search metric
    noise_model: str = "gaussian"  # "gaussian": sigma everywhere; "hetero": sigma at the best net, growing with error
    max_params: str | float | None = None  # a params budget such as "0.6M" (see envs.constrained.parse_budget)
    max_macs: str | float | None = None  # a MACs budget such as "600M"
    pareto: bool = False  # accuracy vs MACs, one trade-off per seed (wrappers.pareto)
    lambda_range: tuple[float, float] | None = None  # the trade-offs' range when pareto (default LAMBDA_RANGE)
    free_repeats: bool = False  # repeated architectures are served from a cache without spending budget
    checkpoint_every: int = 0  # queries between checkpoints; 0: no checkpoints
    incumbent: str = "denoised"  # what a run returns: the best estimate ("denoised") or best single observation
    reevaluate: int = 0  # re-evaluate a top candidate every this many queries when noisy (wrappers.reevaluate); 0: off
    search_metric: str | None = None  # table space: the column (glob, {dataset}) the search maximises
    report_metric: str | None = None  # table space: the column reported (default: the search metric)
    decisions: tuple[str, ...] | None = None  # table space: the decision columns (None: inferred)
    limits: tuple[str, ...] = ()  # budgets on named table columns, "COLUMN=VALUE" (envs.constrained.parse_limits)
    pareto_column: str | None = None  # table space: the cost column of the Pareto front (default: its MACs)
    latency_model: str | None = None  # a fitted latency model file (l2nas latency): adds the "latency" column (ms)
    max_latency: str | float | None = None  # a modelled-latency budget such as "5ms" (needs latency_model)
    reduce_space: str | None = None  # drop latency-dominated choices, scored by this dataset's table (latency.reduce)

    def __post_init__(self) -> None:
        for name, value in normalize(field_values(self), field_label).items():
            object.__setattr__(self, name, value)

    @classmethod
    def create(cls, label: Label = field_label, **values: Any) -> "RunSpec":
        """A RunSpec whose errors name each field by ``label(field)`` (e.g. a command-line flag)."""
        unknown = sorted(set(values) - set(FIELDS))
        if unknown:
            raise ValueError(f"unknown run spec field(s): {', '.join(unknown)}; valid: {', '.join(FIELDS)}")
        return cls(**normalize({**DEFAULTS, **values}, label))

    def to_json(self) -> dict[str, Any]:
        """The spec as a JSON object (tuples as lists); :meth:`from_json` gives back an equal spec."""
        out: dict[str, Any] = {"kind": KIND, "version": VERSION}
        for name, value in field_values(self).items():
            if name == "config":
                value = {k: _jsonable(v) for k, v in config_dict(value).items()}
            out[name] = _jsonable(value)
        return out

    @classmethod
    def from_json(cls, data: Any) -> "RunSpec":
        """The spec of a :meth:`to_json` object; refuses another kind, and missing or unknown keys."""
        if not isinstance(data, dict):
            raise ValueError(f"a run spec must be a JSON object, got {type(data).__name__}")
        if data.get("kind") != KIND or data.get("version") != VERSION:
            raise ValueError(f"not an l2nas search run spec (kind {data.get('kind')!r}, version "
                             f"{data.get('version')!r}; expected {KIND!r}, version {VERSION})")
        values = {k: v for k, v in data.items() if k not in ("kind", "version")}
        values = {**{k: v for k, v in LEGACY.items() if k not in values}, **values}
        unknown, missing = sorted(set(values) - set(FIELDS)), [f for f in FIELDS if f not in values]
        if unknown:
            raise ValueError(f"unknown run spec key(s): {', '.join(unknown)}")
        if missing:
            raise ValueError(f"run spec is missing key(s): {', '.join(missing)}")
        if not isinstance(values["config"], dict):
            raise ValueError(f"config must be a JSON object, got {values['config']!r}")
        return cls(**values)

    def save(self, path: str | os.PathLike) -> None:
        """Write :meth:`to_json` to ``path`` atomically."""
        io.write_json(path, self.to_json())

    @classmethod
    def load(cls, path: str | os.PathLike) -> "RunSpec":
        """Read a spec written by :meth:`save`; one ValueError line naming ``path`` for anything wrong."""
        try:
            data = json.loads(Path(path).read_text())
        except OSError as e:
            raise ValueError(f"cannot read {path}: {e.strerror or e}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"{path} is not valid JSON ({e})") from None
        try:
            return cls.from_json(data)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None

    def differences(self, other: "RunSpec") -> list[str]:
        """Names of the fields that differ from ``other`` (config fields as ``config.<name>``)."""
        mine, theirs = self.to_json(), other.to_json()
        diff = [k for k in mine if k != "config" and mine[k] != theirs[k]]
        if mine["method"] == theirs["method"]:
            diff += [f"config.{k}" for k in mine["config"] if mine["config"][k] != theirs["config"].get(k)]
        return diff


FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(RunSpec))
DEFAULTS: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(RunSpec)}
#: Fields added after a spec format was written, with the value that reproduces the older runs.
LEGACY: dict[str, Any] = {"noise_model": "gaussian", "incumbent": "observed", "reevaluate": 0,
                          "latency_model": None, "max_latency": None, "reduce_space": None}


def field_values(spec: RunSpec) -> dict[str, Any]:
    """``{field: value}`` of a spec, without recursing into the config (unlike ``dataclasses.asdict``)."""
    return {name: getattr(spec, name) for name in FIELDS}


def _jsonable(value: Any) -> Any:
    """Tuples as lists (JSON has no tuples), recursively."""
    return [_jsonable(v) for v in value] if isinstance(value, (tuple, list)) else value


def _optional(check: Callable[[str, Any], Any], name: str, value: Any) -> Any:
    """``check(name, value)`` unless ``value`` is None."""
    return None if value is None else check(name, value)


def normalize(values: Mapping[str, Any], label: Label = field_label) -> dict[str, Any]:
    """Every field of ``values`` (a complete set) checked and converted; errors name ``label(field)``."""
    v, L = dict(values), label
    out = {
        "space": check_space(validate.string(L("space"), v["space"])),
        "dataset": validate.string(L("dataset"), v["dataset"], allow_empty=True),
        "method": methods.check_method(validate.string(L("method"), v["method"])),
        "queries": validate.positive_int(L("queries"), v["queries"], hi=runner.MAX_QUERIES),
        "seeds": validate.positive_int(L("seeds"), v["seeds"]),
        "seed": validate.nonnegative_int(L("seed"), v["seed"], hi=MAX_SEED),
        "table": _optional(validate.path, L("table"), v["table"]),
        "supernet": _optional(validate.path, L("supernet"), v["supernet"]),
        "supernet_images": _optional(validate.positive_int, L("supernet_images"), v["supernet_images"]),
        "data_dir": _optional(validate.path, L("data_dir"), v["data_dir"]),
        "predictor": _optional(validate.path, L("predictor"), v["predictor"]),
        "noise_sigma": validate.nonnegative_float(L("noise_sigma"), v["noise_sigma"]),
        "noise_model": validate.choice(L("noise_model"), v["noise_model"], NOISE_MODELS),
        "incumbent": validate.choice(L("incumbent"), v["incumbent"], INCUMBENT_RULES),
        "reevaluate": _reevaluate(L("reevaluate"), v["reevaluate"]),
        "max_params": _budget(L("max_params"), v["max_params"]),
        "max_macs": _budget(L("max_macs"), v["max_macs"]),
        "pareto": validate.boolean(L("pareto"), v["pareto"]),
        "free_repeats": validate.boolean(L("free_repeats"), v["free_repeats"]),
        "checkpoint_every": validate.nonnegative_int(L("checkpoint_every"), v["checkpoint_every"]),
        "search_metric": _optional(validate.string, L("search_metric"), v["search_metric"]),
        "report_metric": _optional(validate.string, L("report_metric"), v["report_metric"]),
        "decisions": _decisions(L("decisions"), v["decisions"]),
        "limits": _limits(L("limits"), v["limits"]),
        "pareto_column": _optional(validate.string, L("pareto_column"), v["pareto_column"]),
        "latency_model": _optional(validate.path, L("latency_model"), v["latency_model"]),
        "max_latency": _max_latency(L("max_latency"), v["max_latency"]),
        "reduce_space": _optional(validate.string, L("reduce_space"), v["reduce_space"]),
    }
    check_latency_options(out, L)
    check_table_options(out, L)
    out["config"] = method_config(out["method"], v["config"])
    out["lambda_range"] = _lambda_range(L, out["pareto"], v["lambda_range"])
    check_evaluator(table=out["table"], noise_sigma=out["noise_sigma"], predictor=out["predictor"],
                    supernet=out["supernet"], label=L)
    check_noise_options(out, L)
    if out["pareto"] and (out["max_params"] is not None or out["max_macs"] is not None):
        raise ValueError(f"{L('pareto')} cannot be combined with {L('max_params')}/{L('max_macs')}: the front "
                         "already shows the best accuracy found at every cost")
    return {name: out[name] for name in FIELDS}


def _reevaluate(name: str, value: Any) -> int:
    """0 (off) or a re-evaluation period of at least 2 queries."""
    every = validate.nonnegative_int(name, value)
    if every == 1:
        raise ValueError(f"{name} must be 0 (off) or >= 2 (one re-evaluation per that many queries), got 1")
    return every


def check_noise_options(out: Mapping[str, Any], label: Label = field_label) -> None:
    """Refuse noise options that would be ignored or contradict each other."""
    if out["noise_model"] != "gaussian" and not out["noise_sigma"]:
        raise ValueError(f"{label('noise_model')} {out['noise_model']} scales the noise: give {label('noise_sigma')} > 0")
    if out["reevaluate"] and out["free_repeats"]:
        raise ValueError(f"{label('reevaluate')} measures architectures again, {label('free_repeats')} serves repeats "
                         "from a cache: choose one")
    if out["reevaluate"] and out["pareto"]:
        raise ValueError(f"{label('reevaluate')} is not supported with {label('pareto')} (each seed has its own "
                         "trade-off; re-evaluate single-objective searches)")


def _decisions(name: str, value: Any) -> tuple[str, ...] | None:
    """Decision column names: a comma-separated string or a sequence of names."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    names = tuple(validate.string(name, str(v).strip()) for v in items if str(v).strip())
    if not names:
        raise ValueError(f"{name} must name at least one column")
    return names


def _limits(name: str, value: Any) -> tuple[str, ...]:
    """``COLUMN=VALUE`` budgets, each checked by :func:`~l2nas_jax.envs.constrained.parse_limits`."""
    items = [value] if isinstance(value, str) else list(value or ())
    try:
        parse_limits([str(v) for v in items])
    except ValueError as e:
        raise ValueError(f"{name}: {e}") from None
    return tuple(str(v) for v in items)


def _max_latency(name: str, value: Any) -> str | float | None:
    """A latency budget as given (``"5ms"``, or milliseconds as a float), checked by ``parse_latency``."""
    if value is None:
        return None
    if not isinstance(value, str):
        value = validate.positive_float(name, value)
    parse_latency(value, name)
    return value


def check_latency_options(out: Mapping[str, Any], label: Label = field_label) -> None:
    """A latency budget or a latency Pareto front needs a latency model; a budget does not mix with a front."""
    wants = (out["max_latency"] is not None or out["pareto_column"] == LATENCY_COLUMN
             or out["reduce_space"] is not None)
    if wants and out["latency_model"] is None:
        raise ValueError(f"a latency budget, front or reduced space needs {label('latency_model')} FILE (fit one on "
                         f"this machine: l2nas latency --space {out['space']} --out MEASUREMENTS --model FILE)")
    if out["max_latency"] is not None and out["pareto"]:
        raise ValueError(f"{label('pareto')} cannot be combined with {label('max_latency')}: the front already shows "
                         "the best accuracy found at every cost")


def check_table_options(out: Mapping[str, Any], label: Label = field_label) -> None:
    """The table-file options only apply to the ``table`` space (which needs them: checked when it is built)."""
    given = [k for k in ("search_metric", "report_metric", "decisions", "pareto_column") if out[k] is not None
             and not (k == "pareto_column" and out[k] == LATENCY_COLUMN and out["latency_model"] is not None)]
    if out["space"] != TABLE_SPACE and given:
        raise ValueError(f"{', '.join(label(k) for k in given)} only apply to {label('space')} {TABLE_SPACE} "
                         f"(a table file of your own)")


def check_evaluator(*, table: Any, noise_sigma: float, predictor: Any, supernet: Any,
                    label: Label = field_label) -> None:
    """Refuse evaluator options that would be ignored: a supernet or a predictor replaces the table and its noise."""
    if supernet is not None and (table is not None or noise_sigma or predictor is not None):
        raise ValueError(f"{label('supernet')} evaluates architectures itself; drop {label('table')}/"
                         f"{label('noise_sigma')}/{label('predictor')}")
    if predictor is not None and noise_sigma:
        raise ValueError(f"{label('noise_sigma')} has no effect on a predictor (its predictions are noise-free); "
                         "drop it")


def _budget(name: str, value: Any) -> str | float | None:
    """A budget as given (a string such as ``"0.6M"`` or a number of units, as a float), checked by ``parse_budget``."""
    if value is None:
        return None
    if isinstance(value, str):
        parse_budget(value, name)
        return value
    value = validate.positive_float(name, value)
    parse_budget(value, name)
    return value


def _lambda_range(label: Label, pareto: bool, value: Any) -> tuple[float, float] | None:
    """The Pareto trade-off range: the default when ``pareto`` and not given, refused without ``pareto``."""
    name = label("lambda_range")
    if not pareto:
        if value is not None:
            raise ValueError(f"{name} only applies to a pareto search; drop it or set {label('pareto')}")
        return None
    if value is None:
        return tuple(LAMBDA_RANGE)
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"{name} must be two numbers (lo, hi), got {value!r}")
    lo, hi = (validate.positive_float(f"{name}[{i}]", x) for i, x in enumerate(value))
    if lo > hi:
        raise ValueError(f"{name} must have lo <= hi, got {value!r}")
    return lo, hi


# ----------------------------------------------------------------------------- method configs


def config_dict(config: Any) -> dict[str, Any]:
    """``{field: value}`` of a config dataclass (one level; tuples stay tuples)."""
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}


def config_value(what: str, value: Any, default: Any) -> Any:
    """``value`` checked against the type of the field's ``default`` (bool, int, float, str, tuple of those)."""
    if isinstance(default, bool):
        return validate.boolean(what, value)
    if isinstance(default, int):
        return validate.integer(what, value)
    if isinstance(default, float):
        return validate.finite_float(what, value)
    if isinstance(default, str):
        return validate.string(what, value, allow_empty=True)
    if isinstance(default, tuple):
        if not isinstance(value, (tuple, list)):
            raise ValueError(f"{what} must be a list, got {value!r}")
        return tuple(config_value(f"{what}[{i}]", x, default[0] if default else x) for i, x in enumerate(value))
    return value


def config_overrides(method: str, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``overrides`` of ``method``'s config checked field by field (unknown keys and mistyped values refused)."""
    cls, _ = methods.get_method(method)
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    unknown = sorted(set(overrides) - set(defaults))
    if unknown:
        raise ValueError(f"unknown {method} config key(s): {', '.join(map(str, unknown))}; "
                         f"valid: {', '.join(sorted(defaults))}")
    return {k: config_value(f"{method} config {k}", v, defaults[k]) for k, v in overrides.items()}


def method_config(method: str, config: Any) -> Any:
    """``method``'s config dataclass from ``config``: None (the defaults), a dict of overrides, or a config."""
    cls, _ = methods.get_method(method)
    if config is None:
        config = {}
    elif isinstance(config, cls):
        config = config_dict(config)
    elif dataclasses.is_dataclass(config) and not isinstance(config, type):
        raise ValueError(f"config is a {type(config).__name__}, but method {method} takes a {cls.__name__}")
    elif not isinstance(config, Mapping):
        raise ValueError(f"config must be a {cls.__name__}, a dict of overrides or None, got {config!r}")
    return methods.make_config(method, config_overrides(method, config))
