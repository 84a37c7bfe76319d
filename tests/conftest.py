"""Shared helpers: write real C files to a temp folder and scan them."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

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


def find_ft_python() -> str | None:
    """A free-threaded interpreter: $EXTMIGRATE_FT_PYTHON or python3.14t on PATH."""
    import os
    import shutil

    cand = os.environ.get("EXTMIGRATE_FT_PYTHON") or shutil.which("python3.14t")
    return cand if cand and os.access(cand, os.X_OK) else None


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
