"""Reading a lookup-table file into named raw columns: CSV, JSON and (optionally) Parquet.

Every loader returns a :class:`RawTable`: the column names in file order, one list of raw
values per column (text from CSV, JSON scalars otherwise) and one label per row that error
messages use (``line 7`` for CSV, ``key '0-3-1'`` for keyed JSON, ``record 4`` for a JSON
list).  Nothing here interprets values; :mod:`l2nas_jax.spaces.table.build` does.

Accepted shapes:

* **CSV** with a header row; one row per architecture.
* **JSON list of records** ``[{"e0": "conv", "e1": 3, "acc": 91.2}, ...]``: like CSV.
* **JSON keyed by architecture** ``{"0-3-1": {"acc": 91.2, "params": 0.4}, ...}``: the key is split
  into decision values (see :func:`split_key`), the value is a dict of metrics.  Nested dicts are
  flattened with ``_`` (``{"cifar10": {"valid": 90}}`` -> column ``cifar10_valid``) and a list of
  numbers becomes one column per entry (``{"acc": [90, 91]}`` -> ``acc_0``, ``acc_1``: per-seed runs).
* **Parquet** through the optional ``pyarrow`` package.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Sequence

#: Separators tried, in this order, when the keys of a keyed JSON file are split automatically.
KEY_SEPARATORS: tuple[str, ...] = (",", "|", "-", "_", " ", "/", ":")


@dataclasses.dataclass(frozen=True)
class RawTable:
    """A table as read from its file: named columns of raw values, and a label per row for errors."""

    source: str  # the file (error messages start with it)
    names: tuple[str, ...]  # column names in file order
    values: dict[str, list[Any]]  # column -> raw value per row
    rows: tuple[str, ...]  # row labels: "line 2", "key '0-1'", "record 0"
    key_sep: str | None = None  # keyed JSON: the separator its keys were split with ("" = one char each)
    key_decisions: tuple[str, ...] = ()  # keyed JSON: the columns made from the key (the decisions)

    @property
    def num_rows(self) -> int:
        return len(self.rows)


def _fail(source: str, problem: str) -> ValueError:
    return ValueError(f"table {source}: {problem}")


def read_table(path: str | os.PathLike, *, decisions: Sequence[str] | None = None,
               key_sep: str | None = None) -> RawTable:
    """Read a ``.csv``, ``.json`` or ``.parquet`` table (``decisions``/``key_sep``: keyed JSON only)."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"table file not found: {p}")
    suffix = p.suffix.lower()
    if suffix == ".csv":
        return read_csv(p)
    if suffix == ".json":
        return read_json(p, decisions=decisions, key_sep=key_sep)
    if suffix in (".parquet", ".pq"):
        return read_parquet(p)
    raise ValueError(f"table {p}: unrecognised file type {suffix or '(none)'!r}; expected .csv, .json or .parquet")


def read_csv(path: str | os.PathLike) -> RawTable:
    """A CSV with a header row: every value is kept as text."""
    src = str(path)
    try:
        with open(path, newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            lines = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise _fail(src, f"cannot read as CSV ({e})") from None
    if not header:
        raise _fail(src, "empty file (no header row)")
    names = tuple(h.strip() for h in header)
    _check_names(src, names)
    values: dict[str, list[Any]] = {n: [] for n in names}
    rows = []
    for i, line in enumerate(lines, start=2):
        if not line or all(not c.strip() for c in line):
            continue  # blank line
        if len(line) != len(names):
            raise _fail(src, f"line {i} has {len(line)} fields, the header has {len(names)}")
        for n, v in zip(names, line):
            values[n].append(v.strip())
        rows.append(f"line {i}")
    return RawTable(source=src, names=names, values=values, rows=tuple(rows))


def _check_names(src: str, names: Sequence[str]) -> None:
    seen = set()
    for n in names:
        if not n:
            raise _fail(src, "a column has an empty name")
        if n in seen:
            raise _fail(src, f"column {n!r} appears twice")
        seen.add(n)


def read_json(path: str | os.PathLike, *, decisions: Sequence[str] | None = None,
              key_sep: str | None = None) -> RawTable:
    """A JSON list of records, or a dict ``{arch_key: {metric: value}}`` (keys split by :func:`split_key`)."""
    src = str(path)
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _fail(src, f"cannot read as JSON ({e})") from None
    if isinstance(data, list):
        return _records(src, data)
    if isinstance(data, dict):
        return _keyed(src, data, decisions, key_sep)
    raise _fail(src, f"expected a list of records or a dict keyed by architecture, got a {type(data).__name__}")


def _records(src: str, data: list) -> RawTable:
    names: list[str] = []
    flat_rows = []
    for i, rec in enumerate(data):
        if not isinstance(rec, dict):
            raise _fail(src, f"record {i} is a {type(rec).__name__}, expected an object")
        flat = _flatten(src, f"record {i}", rec)
        for n in flat:
            if n not in names:
                names.append(n)
        flat_rows.append(flat)
    return _assemble(src, names, flat_rows, [f"record {i}" for i in range(len(data))])


def _flatten(src: str, row: str, obj: dict, prefix: str = "") -> dict[str, Any]:
    """Nested dicts joined with ``_``; a list of scalars becomes ``name_0, name_1, ...``."""
    out: dict[str, Any] = {}
    for k, v in obj.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(src, row, v, name + "_"))
        elif isinstance(v, list):
            for j, x in enumerate(v):
                if isinstance(x, (dict, list)):
                    raise _fail(src, f"{row}: {name}[{j}] is nested too deeply (lists must hold numbers)")
                out[f"{name}_{j}"] = x
        else:
            out[name] = v
    return out


def _assemble(src: str, names: list[str], flat_rows: list[dict[str, Any]], labels: list[str],
              key_sep: str | None = None, key_decisions: Sequence[str] = ()) -> RawTable:
    _check_names(src, names)
    for flat, label in zip(flat_rows, labels):
        missing = [n for n in names if n not in flat]
        if missing:
            raise _fail(src, f"{label} has no {missing[0]!r} (every row needs every column)")
    values = {n: [flat[n] for flat in flat_rows] for n in names}
    return RawTable(source=src, names=tuple(names), values=values, rows=tuple(labels), key_sep=key_sep,
                    key_decisions=tuple(key_decisions))


def split_key(key: str, sep: str) -> list[str]:
    """A keyed JSON's architecture key as decision values: ``sep == ""`` is one character per decision."""
    return list(key) if sep == "" else key.split(sep)


def infer_key_sep(keys: Sequence[str]) -> str:
    """The first of :data:`KEY_SEPARATORS` found the same number of times in every key; ``""`` if none."""
    for sep in KEY_SEPARATORS:
        counts = {k.count(sep) for k in keys}
        if len(counts) == 1 and counts.pop() > 0:
            return sep
    return ""


def _keyed(src: str, data: dict, decisions: Sequence[str] | None, key_sep: str | None) -> RawTable:
    keys = list(data)
    if not keys:
        raise _fail(src, "no rows (the JSON object is empty)")
    sep = infer_key_sep(keys) if key_sep is None else key_sep
    parts = [split_key(k, sep) for k in keys]
    n = len(parts[0])
    for k, p in zip(keys, parts):
        if len(p) != n:
            how = "one character per decision" if sep == "" else f"separator {sep!r}"
            raise _fail(src, f"key {k!r} splits into {len(p)} decision values ({how}), the first key into {n}")
    if decisions is None:
        names = [f"d{i}" for i in range(n)]
    else:
        names = [str(d) for d in decisions]
        if len(names) != n:
            raise _fail(src, f"{len(names)} decision names given but the keys split into {n} values")
    flat_rows, labels = [], []
    metric_names: list[str] = []
    for k, p in zip(keys, parts):
        label = f"key {k!r}"
        v = data[k]
        if not isinstance(v, dict):
            raise _fail(src, f"{label}: expected an object of metrics, got a {type(v).__name__}")
        flat = _flatten(src, label, v)
        clash = [m for m in flat if m in names]
        if clash:
            raise _fail(src, f"{label}: metric {clash[0]!r} has the name of a decision")
        for m in flat:
            if m not in metric_names:
                metric_names.append(m)
        flat_rows.append({**dict(zip(names, p)), **flat})
        labels.append(label)
    return _assemble(src, names + metric_names, flat_rows, labels, key_sep=sep, key_decisions=names)


def read_parquet(path: str | os.PathLike) -> RawTable:
    """A Parquet file through the optional ``pyarrow`` package (one row per architecture)."""
    try:
        import pyarrow.parquet as pq  # type: ignore
    except ImportError:
        raise ValueError(f"table {path}: reading Parquet needs the optional package pyarrow "
                         f"(pip install pyarrow), or convert the file to CSV") from None
    try:
        data = pq.read_table(str(path)).to_pydict()
    except Exception as e:  # pyarrow raises its own error types
        raise _fail(str(path), f"cannot read as Parquet ({e})") from None
    names = list(data)
    _check_names(str(path), names)
    n = len(next(iter(data.values()), []))
    return RawTable(source=str(path), names=tuple(names), values={k: list(v) for k, v in data.items()},
                    rows=tuple(f"row {i}" for i in range(n)))
