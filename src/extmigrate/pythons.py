"""Python interpreters on this machine, found the way a user's shell would find them.

Sources, in order: the running interpreter (`sys.executable`), `$EXTMIGRATE_PYTHONS` (paths separated by
`os.pathsep`), `$EXTMIGRATE_FT_PYTHON`, `python3.X` and `python3.Xt` on PATH, and uv-managed Pythons when
`uv` is on PATH. Each candidate is asked for its version, build and include folder (isolated, from a
temporary folder: nothing of a project runs); one that does not answer (a pyenv shim for a version that
is not selected, a broken link) is left out. Nothing here names a folder of any machine.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass

# Minor versions tried as python3.X / python3.Xt on PATH.
MINORS = range(8, 20)

_QUERY = (
    "import sys, sysconfig, json; p = sysconfig.get_paths(); "
    "print(json.dumps({'exe': sys.executable, 'version': list(sys.version_info[:2]), "
    "'ft': bool(sysconfig.get_config_var('Py_GIL_DISABLED')), "
    "'include': p.get('include') or '', 'platinclude': p.get('platinclude') or ''}))"
)


@dataclass(frozen=True)
class Interpreter:
    exe: str
    version: tuple[int, int]
    free_threaded: bool
    include: str       # folder holding Python.h, or "" when the headers are not installed
    platinclude: str = ""

    @property
    def label(self) -> str:
        return f"{self.version[0]}.{self.version[1]}{'t' if self.free_threaded else ''}"

    @property
    def has_headers(self) -> bool:
        return bool(self.include) and os.path.isfile(os.path.join(self.include, "Python.h"))


def _running() -> Interpreter:
    paths = sysconfig.get_paths()
    return Interpreter(sys.executable, tuple(sys.version_info[:2]),
                       bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
                       paths.get("include") or "", paths.get("platinclude") or "")


@functools.lru_cache(maxsize=None)
def query(exe: str) -> Interpreter | None:
    """What `exe` says of itself, or None when it cannot be run."""
    if os.path.realpath(exe) == os.path.realpath(sys.executable):
        return _running()
    try:
        out = subprocess.run([exe, "-I", "-c", _QUERY], capture_output=True, text=True, timeout=30,
                             cwd=tempfile.gettempdir(), stdin=subprocess.DEVNULL)
        if out.returncode != 0:
            return None
        d = json.loads(out.stdout.strip().splitlines()[-1])
        return Interpreter(d["exe"] or exe, (int(d["version"][0]), int(d["version"][1])), bool(d["ft"]),
                           d["include"], d["platinclude"])
    except (OSError, subprocess.SubprocessError, ValueError, KeyError, IndexError):
        return None


def _uv_pythons() -> list[str]:
    uv = shutil.which("uv")
    if not uv:
        return []
    try:
        out = subprocess.run([uv, "python", "list", "--only-installed", "--output-format", "json"],
                             capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        return [e["path"] for e in json.loads(out.stdout) if e.get("path")]
    except (OSError, subprocess.SubprocessError, ValueError, TypeError, KeyError):
        return []


def candidates() -> list[str]:
    """Executable names/paths worth asking, most specific first, without duplicates."""
    seen: list[str] = [sys.executable]
    env = os.environ.get("EXTMIGRATE_PYTHONS", "")
    seen += [p for p in env.split(os.pathsep) if p]
    if os.environ.get("EXTMIGRATE_FT_PYTHON"):
        seen.append(os.environ["EXTMIGRATE_FT_PYTHON"])
    for minor in MINORS:
        for suffix in ("", "t"):
            found = shutil.which(f"python3.{minor}{suffix}")
            if found:
                seen.append(found)
    seen += _uv_pythons()
    out: list[str] = []
    for c in seen:
        if c not in out:
            out.append(c)
    return out


@functools.lru_cache(maxsize=None)
def _discover(key: tuple) -> tuple[Interpreter, ...]:
    found: dict[tuple[tuple[int, int], bool], Interpreter] = {}
    for c in key:
        it = query(c)
        if it is None:
            continue
        k = (it.version, it.free_threaded)
        # One per version and build; the first source wins, but one with headers beats one without.
        if k not in found or (it.has_headers and not found[k].has_headers):
            found[k] = it
    return tuple(sorted(found.values(), key=lambda i: (i.version, i.free_threaded)))


def discover() -> list[Interpreter]:
    """Every interpreter found, one per (version, free-threaded), oldest first."""
    return list(_discover(tuple(candidates())))


def with_headers() -> list[Interpreter]:
    return [i for i in discover() if i.has_headers]


def free_threaded() -> Interpreter | None:
    """The newest free-threaded interpreter found ($EXTMIGRATE_FT_PYTHON first)."""
    env = os.environ.get("EXTMIGRATE_FT_PYTHON")
    if env:
        it = query(env)
        if it is not None and it.free_threaded:
            return it
    ft = [i for i in discover() if i.free_threaded]
    return ft[-1] if ft else None
