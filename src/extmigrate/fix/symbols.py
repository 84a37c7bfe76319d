"""--check-compile's symbol check: every C API a fix newly uses exists in each target Python.

Where a target is at least as new as the API (so the compat header gives no fallback there), its
headers must declare the name, and a function its headers export (PyAPI_FUNC) must be among the
dynamic symbols of the target's libpython or python executable (`nm -D`): a declaration alone
still fails at import time with an undefined symbol."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile

from extmigrate import pythons
from extmigrate.analysis.text import blank_comments
from extmigrate.fix import compat

_LIBRARY = ("import sysconfig, os; v = sysconfig.get_config_var; "
            "print(os.path.join(v('LIBDIR') or '', v('LDLIBRARY') or ''))")


@functools.lru_cache(maxsize=None)
def _headers(include: str) -> str:
    """Every header below an include dir, comments blanked, as one text."""
    parts = []
    for folder, _dirs, files in os.walk(include):
        for name in sorted(files):
            if name.endswith(".h"):
                try:
                    with open(os.path.join(folder, name), encoding="utf-8", errors="replace") as f:
                        parts.append(blank_comments(f.read()))
                except OSError:
                    continue
    return "\n".join(parts)


def _interpreter(include: str) -> str | None:
    real = os.path.realpath(include)
    return next((i.exe for i in pythons.with_headers() if os.path.realpath(i.include) == real), None)


@functools.lru_cache(maxsize=None)
def exported(exe: str) -> frozenset[str] | None:
    """Defined dynamic symbols of the interpreter's libpython (or of the executable itself, when
    libpython is linked statically); None when they cannot be read."""
    nm = shutil.which("nm")
    if nm is None:
        return None
    try:
        out = subprocess.run([exe, "-I", "-c", _LIBRARY], capture_output=True, text=True, timeout=30,
                             cwd=tempfile.gettempdir(), stdin=subprocess.DEVNULL)
        lib = out.stdout.strip()
        shared = ".so" in os.path.basename(lib) or lib.endswith(".dylib")
        binary = lib if shared and os.path.isfile(lib) else os.path.realpath(exe)
        r = subprocess.run([nm, "-D", "--defined-only", binary], capture_output=True, text=True,
                           timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    if r.returncode != 0:
        return None
    return frozenset(line.split()[-1] for line in r.stdout.splitlines() if line.split())


def missing(apis: set[str], targets) -> list[str]:
    """One message per (API, target) where the API is used without being there."""
    out = []
    info = compat.table()
    for t in targets:
        for api in sorted(apis):
            added = info.get(api, {}).get("added", "ours")
            if added == "ours" or compat.parse_version(added) > t.version:
                continue  # ours, or the compat header's fallback serves this target
            text = _headers(t.include)
            if not re.search(rf"\b{re.escape(api)}\b", text):
                out.append(f"{api} is not declared by the {t.label}")
                continue
            if t.defines or not re.search(rf"PyAPI_FUNC\([^)]*\)\s*{re.escape(api)}\s*\(", text):
                continue  # a macro, a type or a static inline function: the headers suffice
            exe = _interpreter(t.include)
            symbols = exported(exe) if exe else None
            if symbols is not None and api not in symbols:
                out.append(f"{api} is declared by the {t.label} but {exe} does not export it")
    return out
