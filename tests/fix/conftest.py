"""Fix tests: write real C into a temp project, run `extmigrate fix` in-process, compile the result
against the headers of the interpreters pythons.py discovers."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

from extmigrate import pythons
from extmigrate.cli import main


def header_targets(min_version: tuple[int, int] = (0, 0)) -> list[tuple[pythons.Interpreter, bool]]:
    """(interpreter, gil_disabled) to compile against: the oldest and newest discovered GIL builds'
    headers at least min_version, the newest again with -DPy_GIL_DISABLED=1, the newest
    free-threaded build's.  Always includes the running interpreter's when it qualifies."""
    found = [i for i in pythons.with_headers() if i.version >= min_version]
    gil = [i for i in found if not i.free_threaded]
    ft = [i for i in found if i.free_threaded]
    running = [i for i in gil if os.path.realpath(i.exe) == os.path.realpath(sys.executable)]
    out = [(i, False) for i in dict.fromkeys(gil[:1] + running + gil[-1:])]
    out += [(gil[-1], True)] if gil else []
    return out + ([(ft[-1], False)] if ft else [])


def python_headers(max_version: tuple[int, int]) -> str | None:
    """The oldest discovered GIL build's include folder older than max_version."""
    old = [i for i in pythons.with_headers() if not i.free_threaded and i.version < max_version]
    return old[0].include if old else None


class Project:
    def __init__(self, root: Path, capsys):
        self.root = root
        self._capsys = capsys

    def write(self, files: dict[str, str], newline: str = "\n") -> "Project":
        for name, code in files.items():
            p = self.root / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(textwrap.dedent(code).replace("\n", newline).encode())
        return self

    def read(self, name: str) -> str:
        return (self.root / name).read_bytes().decode()

    def fix(self, *args: str) -> tuple[int, str, str]:
        """Run `extmigrate fix -j1 --no-config ARGS .` in the project folder."""
        self._capsys.readouterr()
        rc = main(["fix", "-j", "1", "--no-config", "--no-progress", *args, "."])
        out, err = self._capsys.readouterr()
        return rc, out, err

    def scan(self, *args: str) -> tuple[int, str]:
        self._capsys.readouterr()
        rc = main(["scan", "-j", "1", "--no-config", "--no-progress", "--color", "never", *args, "."])
        return rc, self._capsys.readouterr().out

    def compile(self, name: str, it: pythons.Interpreter, gil_disabled: bool = False) -> str | None:
        """cc -fsyntax-only against that interpreter's headers: None when it compiles, else the errors."""
        cmd = [self.cc, "-fsyntax-only", "-Werror=implicit-function-declaration", "-I", it.include]
        cmd += [f"-I{it.platinclude}"] if it.platinclude and it.platinclude != it.include else []
        cmd += ["-DPy_GIL_DISABLED=1"] if gil_disabled else []
        r = subprocess.run(cmd + [str(self.root / name)], capture_output=True, text=True)
        return None if r.returncode == 0 else r.stderr

    @property
    def cc(self) -> str:
        return os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc") or "cc"

    def compiles_everywhere(self, name: str, min_version: tuple[int, int] = (0, 0)) -> None:
        """Compiles against every header_targets(min_version).  Only this step is left out (with a
        warning, the test's other assertions still run) when there is no compiler or no such headers."""
        tgts = header_targets(min_version)
        if not tgts or not shutil.which(self.cc):
            what = f"Python {min_version[0]}.{min_version[1]}+ headers" if tgts == [] else "C compiler"
            warnings.warn(f"{name}: compile step not run, no {what} here", UserWarning, stacklevel=2)
            return
        for it, gil_disabled in tgts:
            assert self.compile(name, it, gil_disabled) is None, (it.label, gil_disabled)

    def apply_and_verify(self, name: str, select: str, *args: str, min_version=(0, 0)) -> str:
        """fix --apply; the file compiles everywhere, a rescan is clean for `select`, and a second
        run proposes nothing.  Returns the patched text."""
        rc, out, err = self.fix("--apply", "--select", select, *args)
        assert re.search(r"\b[1-9]\d* finding\(s\) fixed, 0 left", err), err
        self.compiles_everywhere(name, min_version)
        rc, report = self.scan("--select", select)
        assert rc == 0, report
        text = self.read(name)
        rc, diff, err = self.fix("--select", select, *args)
        assert (rc, diff) == (0, ""), err
        assert self.read(name) == text
        return text


@pytest.fixture
def project(tmp_path, monkeypatch, capsys) -> Project:
    root = tmp_path / "proj"
    root.mkdir()
    monkeypatch.chdir(root)
    return Project(root, capsys)


def git_apply_check(root: Path, diff: str) -> None:
    """The diff applies with `git apply --check` and `patch -p1 --dry-run` in root."""
    if shutil.which("git"):
        r = subprocess.run(["git", "apply", "--check", "-"], input=diff, text=True, cwd=root,
                           capture_output=True)
        assert r.returncode == 0, r.stderr
    if shutil.which("patch"):
        r = subprocess.run(["patch", "-p1", "--dry-run"], input=diff, text=True, cwd=root,
                           capture_output=True)
        assert r.returncode == 0, r.stdout + r.stderr


def build_and_run(root: Path, name: str, python: str, script: str, *flags: str) -> str:
    """Build root/<name>.c as an extension for `python` with gcc, run script there; its stdout
    (stripped), or the failure's stderr in the assertion."""
    if shutil.which("gcc") is None:
        pytest.skip("no gcc to build the patched module")
    info = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['include']); "
                           "print(sysconfig.get_config_var('EXT_SUFFIX'))"],
                          capture_output=True, text=True, check=True).stdout.split()
    subprocess.run(["gcc", "-shared", "-fPIC", "-O1", "-Werror=implicit-function-declaration", "-I",
                    info[0], f"{name}.c", "-o", name + info[1]], check=True, cwd=root)
    r = subprocess.run([python, *flags, "-c", script], capture_output=True, text=True, cwd=root,
                       timeout=300)
    assert r.returncode == 0 and r.stdout.strip(), r.stderr
    return r.stdout.strip()
