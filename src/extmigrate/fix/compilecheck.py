"""--check-compile: every patched TU, patched, compiled with -fsyntax-only against old and new headers."""

from __future__ import annotations

import glob
import json
import os
import re
import shlex
import subprocess
import tempfile
from dataclasses import dataclass

from extmigrate import pythons
from extmigrate.discover import is_source
from extmigrate.fix.patch import FilePatch
from extmigrate.flags import TUSpec


# With no requires-python, the oldest headers compiled against: older CPythons lack APIs (e.g.
# Py_TRASHCAN_BEGIN before 3.8) that most maintained extensions use.
UNKNOWN_OLDEST = (3, 10)


@dataclass
class Target:
    version: tuple[int, int]
    include: str
    defines: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        extra = " " + " ".join(self.defines) if self.defines else ""
        return f"{os.path.basename(self.include.rstrip('/'))} headers{extra}"


def header_dirs(extra: list[str] | None = None) -> list[tuple[tuple[int, int], str]]:
    """(version, include dir) of the Python headers given (folders or glob patterns), else of the
    interpreters pythons.py discovers (the running one, python3.X[t] on PATH, uv, $EXTMIGRATE_PYTHONS)."""
    found: dict[str, tuple[int, int]] = {}
    if not extra:
        found = {os.path.realpath(i.include): i.version for i in pythons.with_headers()}
    for pattern in extra or []:
        for d in glob.glob(pattern):
            m = re.search(r"python(\d+)\.(\d+)", os.path.basename(d.rstrip("/")))
            if m and os.path.isfile(os.path.join(d, "Python.h")):
                found[os.path.realpath(d)] = (int(m.group(1)), int(m.group(2)))
    return sorted(((v, d) for d, v in found.items()), key=lambda x: (x[0], x[1]))


def targets(min_python: tuple[int, int] | None, extra: list[str] | None = None) -> list[Target]:
    """The oldest supported headers, the newest GIL ones (also with -DPy_GIL_DISABLED=1) and the
    newest free-threaded ones (a python3.Xt include dir)."""
    dirs = header_dirs(extra)
    oldest = min_python or UNKNOWN_OLDEST
    usable = [x for x in dirs if x[0] >= oldest] or dirs
    gil = [x for x in usable if not x[1].rstrip("/").endswith("t")]
    ft = [x for x in usable if x[1].rstrip("/").endswith("t")]
    out: list[Target] = []
    for v, d in ([gil[0], gil[-1]] if gil else []):
        if not any(t.include == d for t in out):
            out.append(Target(v, d))
    if gil and gil[-1][0] >= (3, 13):
        out.append(Target(gil[-1][0], gil[-1][1], ("-DPy_GIL_DISABLED=1",)))
    if ft:
        out.append(Target(ft[-1][0], ft[-1][1]))
    return out


def _strip_python_includes(args: list[str]) -> list[str]:
    out, i = [], 0
    while i < len(args):
        a = args[i]
        d = args[i + 1] if a in ("-I", "-isystem") and i + 1 < len(args) else (
            a[2:] if a.startswith("-I") else None)
        if d and os.path.isfile(os.path.join(d, "Python.h")):
            i += 2 if a in ("-I", "-isystem") else 1
            continue
        out.append(a)
        i += 1
    return out


def database_compilers(db_path: str | None) -> dict[str, str]:
    """File (real path) -> the compiler its compile_commands.json entry runs."""
    out: dict[str, str] = {}
    if not db_path:
        return out
    try:
        with open(db_path, "rb") as f:
            entries = json.loads(f.read().decode("utf-8", errors="replace"))
    except (OSError, ValueError):
        return out
    for e in entries if isinstance(entries, list) else []:
        try:
            argv = e["arguments"] if isinstance(e.get("arguments"), list) else shlex.split(e["command"])
            file = os.path.join(e.get("directory") or os.path.dirname(db_path), e["file"])
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
        if argv:
            out[os.path.realpath(file)] = str(argv[0])
    return out


def _compile(cmd: list[str], cwd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=cwd)


def _first_error(stderr: str, tmp: str) -> str:
    lines = stderr.replace(tmp, "").strip().splitlines()
    return next((ln for ln in lines if "error" in ln), lines[0] if lines else "failed")


def check(patches: list[FilePatch], specs: dict[str, TUSpec], min_python, compiler: str | None = None,
          extra_headers: list[str] | None = None,
          compilers: dict[str, str] | None = None) -> tuple[list[str], list[str]]:
    """Returns (what was checked, failures); each failure names the file, the headers and the error.
    The compiler: `compiler`, else the file's compile-database entry's, else $CC, else cc."""
    default_cc = compiler or os.environ.get("CC") or "cc"
    tgts = targets(min_python, extra_headers)
    if not tgts:
        return [], ["no Python headers found to compile against"]
    checked: list[str] = []
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="extmigrate-check-") as tmp:
        overlay = {}
        for p in patches:  # patched files at the same relative place under tmp
            dest = os.path.join(tmp, os.path.abspath(p.path).lstrip(os.sep))
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with open(dest, "wb") as f:
                f.write(p.new)
            overlay[os.path.abspath(p.path)] = dest
        overlay_dirs = sorted({os.path.dirname(d) for d in overlay.values()})
        patched_dirs = {os.path.dirname(p) for p in overlay}
        tus = [p for p in overlay if is_source(p)]
        # a patched header counts through every scanned TU in its folder
        tus += [s for s in specs if is_source(s) and s not in overlay
                and os.path.dirname(s) in patched_dirs]
        for path in sorted(tus):
            spec = specs.get(os.path.realpath(path)) or specs.get(path)
            args = _strip_python_includes(list(spec.args)) if spec else ["-x", "c", "-std=gnu11"]
            src = overlay.get(path, path)
            base = [f"-I{d}" for d in overlay_dirs] + [f"-iquote{os.path.dirname(path)}"]
            cc = shlex.split(compiler or (compilers or {}).get(os.path.realpath(path)) or default_cc)
            cwd = spec.directory if spec else os.path.dirname(path)
            for t in tgts:
                tail = args + [f"-I{t.include}", *t.defines]
                try:
                    r = _compile(cc + ["-fsyntax-only"] + base + tail + [src], cwd)
                    if r.returncode != 0:  # does the file compile here without the fixes?
                        before = _compile(cc + ["-fsyntax-only"] + tail + [path], cwd)
                except (OSError, subprocess.SubprocessError) as e:
                    failures.append(f"{path}: cannot run {cc[0]}: {e}")
                    return checked, failures
                if r.returncode == 0:
                    checked.append(f"{path} ({t.label})")
                elif before.returncode != 0:
                    checked.append(f"{path} ({t.label}): not checked, it does not compile here "
                                   f"without the fixes either: {_first_error(before.stderr, tmp)}")
                else:
                    failures.append(f"{path} ({t.label}): {_first_error(r.stderr, tmp)}")
    return checked, failures
