"""A fresh virtual environment for one interpreter with a project built and installed into it.

Used by `extmigrate stress`, which builds and runs the project (the scan never does). Under --tsan
the project's C/C++ code is compiled with ThreadSanitizer (data/tsan.toml [build]).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass

from extmigrate.runtime.racejoin import data

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_QUERY = ("import sys, sysconfig, json; print(json.dumps({'exe': sys.executable, "
          "'version': '%d.%d.%d' % sys.version_info[:3], "
          "'ft': bool(sysconfig.get_config_var('Py_GIL_DISABLED')), "
          "'config_args': sysconfig.get_config_var('CONFIG_ARGS') or ''}))")
EXT_SUFFIXES = (".so", ".pyd", ".dylib")
TOOLS = ["pytest", "pytest-run-parallel"]


class BuildError(Exception):
    """The interpreter, the environment or the project's build failed: one line for the user."""


@dataclass(frozen=True)
class Interpreter:
    exe: str
    version: str
    free_threaded: bool
    tsan: bool  # a ThreadSanitizer build (CONFIG_ARGS has --with-thread-sanitizer)


def probe(exe: str) -> Interpreter:
    try:
        out = subprocess.run([exe, "-I", "-c", _QUERY], capture_output=True, text=True, timeout=60,
                             cwd=tempfile.gettempdir(), stdin=subprocess.DEVNULL)
        d = json.loads(out.stdout.strip().splitlines()[-1])
    except FileNotFoundError:
        raise BuildError(f"no interpreter at {exe}") from None
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        raise BuildError(f"{exe} did not answer a version query") from None
    return Interpreter(d["exe"] or exe, d["version"], bool(d["ft"]),
                       data()["build"]["config_arg"] in d["config_args"])


def _run(cmd: list[str], log: str, env: dict | None = None, cwd: str | None = None) -> None:
    with open(log, "a", encoding="utf-8") as f:
        f.write(f"$ {' '.join(cmd)}\n")
        f.flush()
        rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                            stdin=subprocess.DEVNULL).returncode
    if rc != 0:
        with open(log, encoding="utf-8", errors="replace") as f:
            tail = [ln for ln in f.read().splitlines() if ln.strip()][-1:] or ["no output"]
        raise BuildError(f"`{' '.join(os.path.basename(c) if i == 0 else c for i, c in enumerate(cmd[:4]))}"
                         f" ...` failed (exit {rc}): {tail[0].strip()} (full log: {log})")


def build_env(tsan: bool) -> dict:
    """The environment of the project's build: its compiler flags under --tsan."""
    env = dict(os.environ)
    if tsan:
        b = data()["build"]
        for var, flags in (("CFLAGS", b["cflags"]), ("CXXFLAGS", b["cflags"]), ("LDFLAGS", b["ldflags"])):
            env[var] = " ".join([env.get(var, ""), *flags]).strip()
        env.update(b["env"])
    return env


@dataclass
class Env:
    folder: str
    python: str          # the venv's interpreter
    bin: str             # its scripts folder
    modules: list[str]   # extension modules the project's install added
    log: str


def _scripts(venv: str) -> str:
    return os.path.join(venv, "Scripts" if sys.platform == "win32" else "bin")


_FILES = ("import importlib.metadata as m, json, sys; d = m.distribution(sys.argv[1]); "
          "print(json.dumps([str(d.locate_file(f)) for f in d.files or []]))")


def project_name(project: str) -> str | None:
    """[project].name of the project's pyproject.toml."""
    try:
        with open(os.path.join(project, "pyproject.toml"), "rb") as f:
            return tomllib.load(f).get("project", {}).get("name")
    except (OSError, ValueError):
        return None


def _extensions(python: str, name: str | None, log: str) -> list[str]:
    """The extension modules the installed distribution `name` holds (its RECORD)."""
    if not name:
        return []
    out = subprocess.run([python, "-I", "-c", _FILES, name], capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, cwd=tempfile.gettempdir())
    try:
        files = json.loads(out.stdout)
    except ValueError:
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"cannot list the files of {name}: {out.stderr.strip()}\n")
        return []
    return sorted(p for p in files if p.endswith(EXT_SUFFIXES))


def prepare(project: str, py: Interpreter, work: str, tsan: bool) -> Env:
    """A venv in work/venv with the test tools, and the project built and installed in it."""
    os.makedirs(work, exist_ok=True)
    log = os.path.join(work, "build.log")
    venv = os.path.join(work, "venv")
    if not os.path.isdir(venv):
        _run([py.exe, "-m", "venv", venv], log)
    bindir = _scripts(venv)
    python = os.path.join(bindir, "python.exe" if sys.platform == "win32" else "python")
    _run([python, "-m", "pip", "install", "-q", *TOOLS], log)
    _run([python, "-m", "pip", "install", "-q", "--force-reinstall", "--no-deps", os.path.abspath(project)],
         log, env=build_env(tsan))
    modules = _extensions(python, project_name(project), log)
    return Env(work, python, bindir, modules, log)
