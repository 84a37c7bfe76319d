"""The interpreter `extmigrate stress` runs with, and the project built and installed for it.

This builds the project (the scan never does). Under --tsan its C/C++ code is compiled with
ThreadSanitizer (data/tsan.toml [build]).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from extmigrate.runtime import project as proj
from extmigrate.runtime.racejoin import data

_QUERY = ("import sys, sysconfig, json; print(json.dumps({'exe': sys.executable, "
          "'version': '%d.%d.%d' % sys.version_info[:3], "
          "'ft': bool(sysconfig.get_config_var('Py_GIL_DISABLED')), "
          "'config_args': sysconfig.get_config_var('CONFIG_ARGS') or ''}))")
EXT_SUFFIXES = (".so", ".pyd", ".dylib")
# A ThreadSanitizer interpreter runs pip (and ensurepip) 5-15 times slower: its steps get this long.
TSAN_STEP_TIMEOUT = 3600.0


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
    folder: str          # the venv
    python: str          # the venv's interpreter
    bin: str             # its scripts folder
    modules: list[str]   # the extension modules in the project's wheel (paths inside it)
    log: str


def wheel_module_files(wheel: Path) -> list[str]:
    """The wheel's extension modules, as paths inside it (a TSan frame without a source line names the
    file: `_lru.cpython-314t-x86_64-linux-gnu.so+0x3f49`)."""
    with zipfile.ZipFile(wheel) as zf:
        return sorted(n for n in zf.namelist() if n.endswith(EXT_SUFFIXES))


def _reused(venv: Path, py: Interpreter) -> Path | None:
    """The venv a previous run left in --work-dir, when it is still of the same interpreter."""
    vpy = proj.venv_python(venv)
    if not vpy.exists():
        return None
    try:
        same = probe(str(vpy))
    except BuildError:
        return None
    return vpy if (same.version, same.free_threaded, same.tsan) == (py.version, py.free_threaded, py.tsan) \
        else None


def prepare(project: str, py: Interpreter, work: str, tsan: bool) -> Env:
    """A fresh venv in work/venv with the project's wheel (built with TSan under --tsan), its test
    extra and the test tools installed: runtime/project.py's steps."""
    logs = Path(work) / "logs"
    slow = {"timeout": TSAN_STEP_TIMEOUT} if py.tsan else {}
    try:
        vpy = _reused(Path(work) / "venv", py) or proj.make_venv(py.exe, Path(work) / "venv", logs, **slow)
        wheel = proj.build_wheel(vpy, Path(project), Path(work) / "wheels", logs,
                                 env=proj.clean_env(build_env(tsan)), **slow)
        proj.install(vpy, wheel, logs, requirements=["pytest-timeout"], **slow)
    except proj.StepError as e:
        raise BuildError(str(e)) from None
    return Env(str(vpy.parent.parent), str(vpy), str(vpy.parent), wheel_module_files(wheel), str(logs))
