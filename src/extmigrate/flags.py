"""Compile flags for each translation unit: compile_commands.json or sensible defaults."""

from __future__ import annotations

import json
import os
import sys
import sysconfig
from dataclasses import dataclass, field

from extmigrate.discover import is_cxx

# Flags taken over from a compile database; everything else (-O2, -o x.o, -c, -MF ...) is dropped.
_WITH_VALUE = {"-I", "-D", "-U", "-isystem", "-iquote", "-include", "-idirafter", "-x"}
_PREFIXES = ("-I", "-D", "-U", "-std=", "-isystem", "-iquote", "-idirafter", "-f", "-m")
_PATH_FLAGS = {"-I", "-isystem", "-iquote", "-idirafter", "-include"}


class ConfigError(Exception):
    """A usage or configuration problem: exit code 2."""


@dataclass
class TUSpec:
    path: str  # absolute path of the main file
    args: list[str]  # clang arguments, without the file itself
    directory: str  # working directory the flags are relative to
    from_database: bool = False
    pch: str | None = None  # precompiled prelude to parse on top of (parse.py), set per scan


@dataclass
class FlagSource:
    """Builds TUSpecs; remembers what it could not use from a compile database."""

    base_args: list[str]
    database: dict[str, TUSpec] = field(default_factory=dict)
    problems: list[tuple[str, str]] = field(default_factory=list)
    include_dirs: list[str] = field(default_factory=list)  # for "searched in" messages

    def spec_for(self, path: str) -> TUSpec:
        spec = self.database.get(os.path.realpath(path))
        if spec is not None:  # the database's own flags first; ours only fill in what it lacks
            return TUSpec(spec.path, spec.args + self.base_args, spec.directory, from_database=True)
        lang = ["-x", "c++", "-std=c++17"] if is_cxx(path) else ["-x", "c", "-std=gnu11"]
        return TUSpec(path, lang + self.base_args, os.path.dirname(path))


def python_paths(python: str | None) -> dict[str, str]:
    """Include dirs of the running interpreter, or of --python PATH (run isolated, outside the project)."""
    if not python:
        paths = sysconfig.get_paths()
        return {"include": paths["include"], "platinclude": paths["platinclude"]}
    import subprocess
    import tempfile

    code = "import sysconfig, json; p = sysconfig.get_paths(); print(json.dumps(p))"
    try:
        out = subprocess.run([python, "-I", "-c", code], capture_output=True, text=True, timeout=30,
                             cwd=tempfile.gettempdir(), check=True).stdout
        paths = json.loads(out)
    except (OSError, subprocess.SubprocessError, ValueError) as e:
        raise ConfigError(f"--python {python}: cannot query its include directory ({e})") from None
    return {"include": paths["include"], "platinclude": paths["platinclude"]}


def _installed_numpy_include() -> str | None:
    """numpy's include folder for this interpreter, found on sys.path without importing numpy
    (nothing of it runs; a `numpy/` folder in the working directory is not numpy)."""
    from importlib.machinery import PathFinder

    try:
        here = os.getcwd()
    except OSError:
        here = ""
    path = [p for p in sys.path if p and os.path.abspath(p) != here]
    try:
        spec = PathFinder.find_spec("numpy", path)
    except (ImportError, ValueError, OSError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        for sub in ("_core", "core"):  # numpy 2, numpy 1
            inc = os.path.join(folder, sub, "include")
            if os.path.isfile(os.path.join(inc, "numpy", "arrayobject.h")):
                return inc
    return None


def numpy_include(python: str | None) -> str | None:
    if not python:
        return _installed_numpy_include()  # what numpy.get_include() says, without a subprocess
    import subprocess
    import tempfile

    code = "import numpy; print(numpy.get_include())"
    try:
        out = subprocess.run([python, "-I", "-c", code], capture_output=True,
                             text=True, timeout=60, cwd=tempfile.gettempdir())
    except (OSError, subprocess.SubprocessError):
        return None
    path = out.stdout.strip()
    return path if out.returncode == 0 and os.path.isdir(path) else None


def header_dirs(headers: list[str], roots: list[str], limit: int = 64) -> list[str]:
    """The scanned tree's include-looking folders: every folder holding a header, roots first."""
    dirs: list[str] = []
    for d in [os.path.abspath(r) for r in roots if os.path.isdir(r)] + [os.path.dirname(h) for h in headers]:
        if d not in dirs:
            dirs.append(d)
        if len(dirs) >= limit:
            break
    return dirs


# Standard headers a project may carry its own copy of (e.g. msinttypes/stdint.h for old MSVC).
SYSTEM_NAMES = {
    "assert.h", "ctype.h", "errno.h", "float.h", "inttypes.h", "iso646.h", "limits.h", "locale.h",
    "math.h", "setjmp.h", "signal.h", "stdarg.h", "stdatomic.h", "stdbool.h", "stddef.h", "stdint.h",
    "stdio.h", "stdlib.h", "string.h", "time.h", "wchar.h", "unistd.h", "pthread.h", "windows.h",
    "Python.h", "pyconfig.h", "structmember.h",
}


def header_dir_flags(headers: list[str], roots: list[str]) -> list[str]:
    """-I for the guessed header folders; -iquote for one that would shadow a system header."""
    shadowing = {os.path.dirname(h) for h in headers if os.path.basename(h) in SYSTEM_NAMES}
    return [("-iquote" + d) if d in shadowing else ("-I" + d) for d in header_dirs(headers, roots)]


def _split_command(entry: dict) -> list[str]:
    if isinstance(entry.get("arguments"), list):
        return [str(a) for a in entry["arguments"]]
    if isinstance(entry.get("command"), str):
        import shlex

        return shlex.split(entry["command"])
    raise ValueError("entry has neither 'arguments' nor 'command'")


def filter_args(argv: list[str], directory: str) -> list[str]:
    """Keep the preprocessor and language flags of a compiler command line."""
    out: list[str] = []
    i = 1  # argv[0] is the compiler
    while i < len(argv):
        a = argv[i]
        if a in _WITH_VALUE and i + 1 < len(argv):
            val = argv[i + 1]
            if a in _PATH_FLAGS and not os.path.isabs(val):
                val = os.path.normpath(os.path.join(directory, val))
            out += [a, val]
            i += 2
            continue
        if a.startswith(("-I", "-isystem", "-iquote")) and len(a) > 2 and a not in _WITH_VALUE:
            flag = next(f for f in ("-I", "-isystem", "-iquote") if a.startswith(f))
            val = a[len(flag):]
            if not os.path.isabs(val):
                val = os.path.normpath(os.path.join(directory, val))
            out.append(flag + val)
        elif (a.startswith(_PREFIXES) and a not in _WITH_VALUE
              and not a.startswith(("-fprofile", "-fcoverage", "-fdiagnostics"))):
            out.append(a)
        i += 1
    return out


def load_database(path: str) -> tuple[dict[str, TUSpec], list[tuple[str, str]]]:
    """Read compile_commands.json; bad entries are reported and skipped, never fatal."""
    problems: list[tuple[str, str]] = []
    specs: dict[str, TUSpec] = {}
    try:
        with open(path, "rb") as f:
            raw = f.read()
        data = json.loads(raw.decode("utf-8", errors="replace")) if raw.strip() else []
    except OSError as e:
        return {}, [(path, f"cannot read compile database: {e.strerror or e}")]
    except ValueError as e:
        return {}, [(path, f"invalid JSON in compile database ({e}); using default flags")]
    except RecursionError:
        return {}, [(path, "compile database is nested too deeply to read; using default flags")]
    if not isinstance(data, list):
        return {}, [(path, "compile database is not a JSON list; using default flags")]
    if not data:
        problems.append((path, "compile database is empty; using default flags"))
    db_dir = os.path.dirname(os.path.abspath(path))
    for n, entry in enumerate(data):
        try:
            if not isinstance(entry, dict):
                raise ValueError("entry is not an object")
            directory = str(entry.get("directory") or db_dir)
            if not os.path.isabs(directory):
                directory = os.path.normpath(os.path.join(db_dir, directory))
            file = str(entry["file"])
            if not os.path.isabs(file):
                file = os.path.normpath(os.path.join(directory, file))
            argv = _split_command(entry)
        except (KeyError, ValueError, TypeError) as e:
            problems.append((path, f"entry {n}: {_shown(str(e))}"))
            continue
        if not os.path.isfile(file):
            problems.append((path, f"entry {n}: {_shown(file)} does not exist"))
            continue
        args = filter_args(argv, directory)
        if not any(a == "-x" for a in args):
            args = (["-x", "c++"] if is_cxx(file) else ["-x", "c"]) + args
        specs[os.path.realpath(file)] = TUSpec(file, args, directory, from_database=True)
    return specs, problems


def _shown(text: str) -> str:
    """Text for a one-line message: control characters escaped."""
    return text if text.isprintable() else repr(text)[1:-1]


def find_database(paths: list[str], explicit_dir: str | None) -> str | None:
    if explicit_dir:
        cand = explicit_dir if explicit_dir.endswith(".json") else os.path.join(explicit_dir, "compile_commands.json")
        if not os.path.exists(cand):
            raise ConfigError(f"-p {explicit_dir}: no compile_commands.json there")
        return cand
    for p in paths:
        root = p if os.path.isdir(p) else os.path.dirname(os.path.abspath(p))
        for d in (root, os.path.join(root, "build"), os.path.dirname(os.path.abspath(root)),
                  os.path.join(os.path.dirname(os.path.abspath(root)), "build")):
            cand = os.path.join(d, "compile_commands.json")
            if os.path.isfile(cand):
                return cand
    return None


def include_dirs(args: list[str]) -> list[str]:
    out, i = [], 0
    while i < len(args):
        a = args[i]
        if a in ("-I", "-isystem", "-iquote", "-idirafter") and i + 1 < len(args):
            out.append(args[i + 1])
            i += 2
            continue
        if a.startswith("-I") and len(a) > 2:
            out.append(a[2:])
        elif a.startswith("-isystem") and len(a) > 8:
            out.append(a[8:])
        elif a.startswith("-iquote") and len(a) > 7:
            out.append(a[7:])
        i += 1
    return out
