"""Shared helpers: write real C files to a temp folder and scan them."""

from __future__ import annotations

import os
import sys
import textwrap
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from extmigrate import pythons
from extmigrate.scan import ScanOptions, scan


def write(root: Path, files: dict[str, str]) -> Path:
    for name, code in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(code))
    return root


def parse_errors(result) -> list[str]:
    """The scan's parse errors as path:line:col: message (empty when every file parsed cleanly)."""
    return [f"{d.path}:{d.line}:{d.column}: {d.message}" for d in result.diagnostics
            if d.severity in ("error", "fatal")]


@pytest.fixture
def scan_c(tmp_path):
    """scan_c(code_or_files, select=[...], **opts) -> ScanResult of a real scan of real files.

    Fails the test when a file does not parse cleanly (an empty finding list from a failed parse
    proves nothing); `parse_errors_ok=True` opts out for tests about broken input."""

    def run(code: str | dict[str, str], select: list[str] | None = None, parse_errors_ok: bool = False,
            headers: HeaderConfig | None = None, **kw):
        if headers is not None:  # a header_params() value
            kw.update(python=headers.python, gil_disabled=headers.gil_disabled or kw.get("gil_disabled", False))
            parse_errors_ok = parse_errors_ok or headers.parse_errors_ok
        files = {"mod.c": code} if isinstance(code, str) else code
        write(tmp_path, files)
        opts = ScanOptions(paths=[str(tmp_path)], select=list(select or []), jobs=kw.pop("jobs", 1), **kw)
        res = scan(opts)
        if not parse_errors_ok:
            errs = parse_errors(res)
            assert not errs, "the test's C does not parse cleanly:\n  " + "\n  ".join(errs[:5])
        return res

    return run


def codes(result) -> list[str]:
    return [f.code for f in result.findings]


def symbols(result, code: str | None = None) -> list[str]:
    return sorted(f.symbol for f in result.findings if code is None or f.code == code)


@dataclass(frozen=True)
class HeaderConfig:
    """One set of Python headers to scan with: `python` for ScanOptions (None: the running one)."""

    id: str  # "py3.13", "py3.14t", "py3.13-gil-disabled"
    python: str | None
    gil_disabled: bool = False
    version: tuple[int, int] = (0, 0)
    parse_errors_ok: bool = False  # headers older than the C API the scanned code uses

    @property
    def exe(self) -> str:
        return self.python or sys.executable


def _is_running(it: pythons.Interpreter) -> bool:
    return os.path.realpath(it.exe) == os.path.realpath(sys.executable)


def header_pythons() -> list[HeaderConfig]:
    """The running interpreter and every other discovered one with headers, oldest first."""
    out = []
    for it in pythons.discover():
        if _is_running(it):
            out.append(HeaderConfig(f"py{it.label}", None, version=it.version))
        elif it.has_headers:
            out.append(HeaderConfig(f"py{it.label}", it.exe, version=it.version))
    return out


def header_configs() -> list[HeaderConfig]:
    """header_pythons() plus one run with -DPy_GIL_DISABLED=1 on the newest GIL build's headers
    (a free-threaded build's headers define it already)."""
    found = header_pythons()
    gil = [c for c in found if not c.id.endswith("t")]
    newest = gil[-1] if gil else found[-1]
    # Before 3.13 no build defines Py_GIL_DISABLED: code under `#ifdef Py_GIL_DISABLED` uses 3.13's
    # C API, which such headers lack (parse errors allowed; the findings are still checked).
    return found + [HeaderConfig(f"{newest.id}-gil-disabled", newest.python, True, newest.version,
                                 parse_errors_ok=newest.version < (3, 13))]


def header_params(min_version: tuple[int, int] = (0, 0)) -> list:
    """pytest params (ids "py3.13") for scan_c(headers=...): every discovered Python's headers from
    min_version on, and the running interpreter's always; when it is older than the C API the code
    uses, with parse errors allowed (what the rule finds by name is still asserted)."""
    out = []
    for c in header_pythons():
        if c.version >= min_version:
            out.append(pytest.param(c, id=c.id))
        elif c.python is None:
            out.append(pytest.param(replace(c, parse_errors_ok=True), id=f"{c.id}-without-{min_version[0]}."
                                    f"{min_version[1]}-api"))
    return out


def before(min_version: tuple[int, int]) -> bool:
    """The running Python's headers are older than min_version: code using that version's C API
    (PyMutex, critical sections ...) does not parse cleanly with them."""
    return tuple(sys.version_info[:2]) < min_version


def ft_headers() -> HeaderConfig | None:
    """Headers where PyObject has no ob_refcnt: a free-threaded build's, else 3.13+ GIL headers with
    -DPy_GIL_DISABLED=1 (None when neither is here)."""
    found = header_pythons()
    ft = [c for c in found if c.id.endswith("t")]
    new = [c for c in found if c.version >= (3, 13) and not c.id.endswith("t")]
    if ft:
        return ft[-1]
    return replace(new[-1], id=new[-1].id + "-gil-disabled", gil_disabled=True) if new else None


def header_matrix() -> list:
    """pytest params: header_pythons() each with and without -DPy_GIL_DISABLED=1 (a free-threaded
    build's once: its headers define it); those with parse errors allowed, since 3.13+ headers then
    hide ob_refcnt."""
    out = []
    for c in header_pythons():
        ft = c.id.endswith("t")
        for g in (False,) if ft else (False, True):
            out.append(pytest.param(replace(c, gil_disabled=g, parse_errors_ok=g or ft),
                                    id=c.id + ("-gil-disabled" if g else "")))
    return out


def find_ft_python() -> str | None:
    """A free-threaded interpreter: $EXTMIGRATE_FT_PYTHON, else one discovered (python3.14t on PATH ...)."""
    it = pythons.free_threaded()
    return it.exe if it is not None and os.access(it.exe, os.X_OK) else None


@pytest.fixture
def ft_python() -> str:
    exe = find_ft_python()
    if exe is None:
        pytest.skip("no free-threaded interpreter: put python3.14t on PATH or set EXTMIGRATE_FT_PYTHON")
    return exe


def find_tsan_python() -> str | None:
    """A ThreadSanitizer-built free-threaded interpreter: $EXTMIGRATE_TSAN_PYTHON, or a python3.14t on PATH
    whose CONFIG_ARGS has --with-thread-sanitizer."""
    import os
    import shutil

    from extmigrate.runtime import build_env

    for cand in filter(None, (os.environ.get("EXTMIGRATE_TSAN_PYTHON"), shutil.which("python3.14t"))):
        try:
            if build_env.probe(cand).tsan:
                return cand
        except build_env.BuildError:
            continue
    return None
