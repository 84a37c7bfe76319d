"""Shared helpers: write real C files to a temp folder and scan them."""

from __future__ import annotations

import os
import sys
import textwrap
from dataclasses import dataclass
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


@pytest.fixture
def scan_c(tmp_path):
    """scan_c(code_or_files, select=[...], **opts) -> ScanResult of a real scan of real files."""

    def run(code: str | dict[str, str], select: list[str] | None = None, **kw):
        files = {"mod.c": code} if isinstance(code, str) else code
        write(tmp_path, files)
        opts = ScanOptions(paths=[str(tmp_path)], select=list(select or []), jobs=kw.pop("jobs", 1), **kw)
        return scan(opts)

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
    return found + [HeaderConfig(f"{newest.id}-gil-disabled", newest.python, True, newest.version)]


def other_python(min_version: tuple[int, int] = (0, 0)) -> list[HeaderConfig]:
    """The discovered interpreters with headers other than the running one, at least min_version."""
    return [c for c in header_pythons() if c.python is not None and c.version >= min_version]


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
