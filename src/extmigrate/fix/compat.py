"""The compat header: fallbacks for exactly the newer APIs the fixes use, included once per file."""

from __future__ import annotations

import configparser
import os
import re
import sys
from importlib import resources

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from extmigrate.fix import includes
from extmigrate.fix.base import Edit, render

HEADER_NAME = "extmigrate_compat.h"
_MARKER = re.compile(r"extmigrate-compat-apis:([^\n]*)")
_LOWER_BOUND = re.compile(r"(>=|~=|==|>)\s*(\d+)\.(\d+)")

_table: dict | None = None


def table() -> dict[str, dict]:
    global _table
    if _table is None:
        raw = resources.files("extmigrate").joinpath("data/compat_apis.toml").read_bytes()
        _table = tomllib.loads(raw.decode("utf-8"))
    return _table


def parse_version(text: str) -> tuple[int, int] | None:
    m = re.fullmatch(r"\s*(\d+)\.(\d+)\s*", text or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def min_from_spec(spec: str) -> tuple[int, int] | None:
    """The lowest Python a requires-python specifier admits ('>=3.9, <4' -> (3, 9))."""
    bounds = [(int(a), int(b)) for op, a, b in _LOWER_BOUND.findall(spec or "")]
    return min(bounds) if bounds else None


def project_min_python(start: str) -> tuple[tuple[int, int] | None, str]:
    """requires-python from the nearest pyproject.toml or setup.cfg (read as text, never run)."""
    d = os.path.abspath(start if os.path.isdir(start) else os.path.dirname(os.path.abspath(start)))
    while True:
        pp = os.path.join(d, "pyproject.toml")
        if os.path.isfile(pp):
            try:
                with open(pp, "rb") as f:
                    spec = tomllib.load(f).get("project", {}).get("requires-python")
            except (OSError, tomllib.TOMLDecodeError, AttributeError):
                spec = None
            if isinstance(spec, str) and min_from_spec(spec):
                return min_from_spec(spec), f"requires-python in {pp}"
        cfg = os.path.join(d, "setup.cfg")
        if os.path.isfile(cfg):
            parser = configparser.ConfigParser(interpolation=None)
            try:
                parser.read(cfg, encoding="utf-8")
                spec = parser.get("options", "python_requires", fallback=None)
            except (configparser.Error, UnicodeDecodeError):
                spec = None
            if spec and min_from_spec(spec):
                return min_from_spec(spec), f"python_requires in {cfg}"
        parent = os.path.dirname(d)
        if parent == d:
            return None, "no requires-python found: every newer API gets a fallback"
        d = parent


def needed(apis: set[str], min_python: tuple[int, int] | None) -> list[str]:
    """The APIs among `apis` (plus what their fallbacks build on) newer than min_python."""
    info = table()
    out: set[str] = set()
    todo = [a for a in apis if a in info]
    while todo:
        api = todo.pop()
        if api in out:
            continue
        added = info[api].get("added", "ours")
        if added == "ours" or min_python is None or parse_version(added) > min_python:
            out.add(api)
            todo.extend(info[api].get("needs", []))
    return sorted(out)


def existing_apis(data: bytes) -> set[str] | None:
    """APIs an existing compat header provides; None when the file is not ours."""
    m = _MARKER.search(data.decode("utf-8", errors="replace"))
    return set(m.group(1).split()) if m else None


def header_text(apis: list[str]) -> str:
    return render("extmigrate_compat.h.j2", apis=sorted(apis))


def include_line(path: str, header: str) -> str:
    rel = os.path.relpath(header, os.path.dirname(os.path.abspath(path))).replace(os.sep, "/")
    return f'#include "{rel}"\n'


def include_edit(path: str, data: bytes, header: str, before: int | None = None) -> Edit | None | str:
    """The edit adding the #include at file scope, outside conditionals, before offset `before`
    (the first use; see fix/includes.py); None if present; a reason string if impossible."""
    if os.path.basename(header).encode() in data and re.search(
            rb'#\s*include\s*"[^"]*' + re.escape(os.path.basename(header).encode()), data):
        return None
    at = includes.place(data, len(data) if before is None else before)
    if at is None:
        return f"no place at file scope outside #if blocks before the first use; add " \
               f"{include_line(path, header).strip()} by hand"
    text = include_line(path, header)
    if at and not data[:at].endswith(b"\n"):  # include on the last line without a newline
        text = "\n" + text.rstrip("\n")
    return Edit(path, at, at, text)
