"""Leftovers that do not block a module's GIL declaration: benign by analysis (data/benign.toml).

- the environment read (getenv) while no file of the module writes it (setenv, putenv ...);
- a scalar static whose every write stores the same value in every thread: a plain assignment of
  literals, constants and calls such as getenv (`static int enabled = -1; ... enabled =
  getenv("X") != NULL;`): threads racing on it all store what the first one stored.
Everything else left unfixed is a real race and blocks the declaration."""

from __future__ import annotations

import os
import re
import sys
from functools import lru_cache
from importlib import resources

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from extmigrate.analysis.text import blank_comments
from extmigrate.model import Finding

_DATA = tomllib.loads(resources.files("extmigrate").joinpath("data/benign.toml").read_text("utf-8"))
_SOURCES = (".c", ".h", ".cc", ".cpp", ".cxx", ".hpp", ".hh", ".inc")
_WORD = re.compile(r"[A-Za-z_]\w*")
_LITERAL_OR_OP = re.compile(r"""\s*(?:0[xX][0-9a-fA-F]+|\d+\.?\d*[uUlLfF]*|"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|[-+*/%<>=!&|^~?:(),.]+|[A-Za-z_]\w*)""")


def _text(path: str) -> str:
    """The file's text; cached while it is unchanged."""
    try:
        st = os.stat(path)
    except OSError:
        return ""
    return _read(path, st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=256)
def _read(path: str, _mtime: int, _size: int) -> str:
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _writes_environment(folder: str) -> str | None:
    """The first file below `folder` that calls an environment writer, or None."""
    call = re.compile(r"\b(" + "|".join(map(re.escape, _DATA["env_writers"])) + r")\s*\(")
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.endswith(_SOURCES) and call.search(blank_comments(_text(os.path.join(root, name)))):
                return os.path.join(root, name)
    return None


def _same_value(expr: str, var: str) -> bool:
    """An expression every thread evaluates to the same value: literals, operators, UPPER_CASE
    constants and the listed calls (not the variable itself: `n = n + 1` counts)."""
    calls = set(_DATA["same_value_calls"])
    pos = 0
    while pos < len(expr.rstrip()):
        m = _LITERAL_OR_OP.match(expr, pos)
        if m is None or m.end() == pos:
            return False
        tok = m.group(0).strip()
        if _WORD.fullmatch(tok) and tok != "NULL" and tok not in calls and \
                not re.fullmatch(r"[A-Z][A-Z0-9_]*", tok):
            return False
        pos = m.end()
    return True


def _assigned(f: Finding, var: str) -> list[str] | None:
    """The right-hand sides of every write of `var`, or None when one is not `var = expr;`."""
    out = []
    for w in f.data.get("writes", []):
        if w.get("how") != "assign":
            return None
        text = _text(w["path"])
        m = re.compile(rf"{re.escape(var)}\s*=(?!=)([^;{{}}]*);").match(text, w["start"])
        if m is None:
            return None
        out.append(m.group(1))
    return out or None


def benign(f: Finding, module_dir: str) -> str | None:
    """Why the leftover `f` does not block the GIL declaration of the module in module_dir."""
    if f.code == "FT512" and f.symbol in _DATA["env_readers"]:
        writer = _writes_environment(module_dir)
        return None if writer else f"{f.symbol}() reads the environment, which nothing in the module writes"
    var, vtype = f.data.get("variable"), str(f.data.get("type", ""))
    if f.category != "static-state" or not var or "*" in vtype or "[" in vtype:
        return None
    if not set(vtype.replace("const", "").split()) <= set(_DATA["scalar_types"]):
        return None
    exprs = _assigned(f, var)
    if not exprs or len({" ".join(e.split()) for e in exprs}) != 1:
        return None  # two writes storing different values (`mode = 1` here, `mode = 2` there) race
    if _same_value(blank_comments(exprs[0]), var):
        return f"every thread stores the same value in '{var}' ({exprs[0].strip()})"
    return None
