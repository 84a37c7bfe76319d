"""Fix tests: write real C into a temp project, run `extmigrate fix` in-process, compile the result."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from extmigrate.cli import main
from extmigrate.fix.compilecheck import header_dirs

HEADER_VERSIONS = [(3, 11), (3, 13)]


def python_headers(version: tuple[int, int]) -> str | None:
    """A GIL build's include dir for that version (pyenv here; CI may have others or none)."""
    for v, d in header_dirs():
        if v == version and not d.rstrip("/").endswith("t"):
            return d
    return None


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

    def compile(self, name: str, version: tuple[int, int], gil_disabled: bool = False) -> str | None:
        """gcc -fsyntax-only against that Python's headers: None when it compiles, else the errors."""
        inc = python_headers(version)
        if inc is None or shutil.which("gcc") is None:
            pytest.skip(f"no gcc or no Python {version[0]}.{version[1]} headers here")
        cmd = ["gcc", "-fsyntax-only", "-Werror=implicit-function-declaration", "-I", inc]
        cmd += ["-DPy_GIL_DISABLED=1"] if gil_disabled else []
        r = subprocess.run(cmd + [str(self.root / name)], capture_output=True, text=True)
        return None if r.returncode == 0 else r.stderr

    def compiles_everywhere(self, name: str, versions=HEADER_VERSIONS) -> None:
        for v in versions:
            for gil_disabled in (False, True):
                assert self.compile(name, v, gil_disabled) is None, (v, gil_disabled)

    def apply_and_verify(self, name: str, select: str, *args: str, versions=HEADER_VERSIONS) -> str:
        """fix --apply; the file compiles everywhere, a rescan is clean for `select`, and a second
        run proposes nothing.  Returns the patched text."""
        rc, out, err = self.fix("--apply", "--select", select, *args)
        assert re.search(r"\b[1-9]\d* finding\(s\) fixed, 0 left", err), err
        self.compiles_everywhere(name, versions)
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
