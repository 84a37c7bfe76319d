"""`fix --apply` killed with SIGKILL at any moment leaves every file entirely old or entirely new."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

MODULE = """\
#include <Python.h>

static long hits_{n};

static PyObject *
bump_{n}(PyObject *module, PyObject *Py_UNUSED(ignored))
{{
    hits_{n}++;
    return PyLong_FromLong(hits_{n});
}}

static PyMethodDef methods_{n}[] = {{
    {{"bump", bump_{n}, METH_NOARGS, NULL}},
    {{NULL, NULL, 0, NULL}},
}};
"""
FILES = 24


def make_tree(root: Path) -> dict[str, bytes]:
    root.mkdir()
    for n in range(FILES):
        (root / f"m{n:02d}.c").write_text(MODULE.format(n=n))
    (root / "pyproject.toml").write_text('[project]\nname = "demo"\nrequires-python = ">=3.10"\n')
    return snapshot(root)


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(root.iterdir()) if p.is_file()}


def fix_cmd(root: Path) -> list[str]:
    return [sys.executable, "-m", "extmigrate", "fix", "--apply", "--no-cache", "--no-progress",
            "-j", "2", str(root)]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """The tree before, and after an uninterrupted apply."""
    root = tmp_path_factory.mktemp("ref") / "src"
    old = make_tree(root)
    proc = subprocess.run(fix_cmd(root), capture_output=True, text=True, timeout=300)
    assert proc.returncode in (0, 1), proc.stderr
    new = snapshot(root)
    changed = [n for n in old if new.get(n) != old[n]]
    assert len(changed) == FILES, "every module gets the atomic-counter fix"
    assert "extmigrate_compat.h" in new
    return old, new


@pytest.mark.parametrize("trial", range(3))
def test_kill_during_apply_leaves_old_or_new_files(tmp_path, reference, trial):
    old, new = reference
    root = tmp_path / "src"
    make_tree(root)
    proc = subprocess.Popen(fix_cmd(root), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 300
    killed_mid_write = False
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            # kill as soon as the first file has been replaced: the rest are being written now
            if any((root / name).exists() and (root / name).read_bytes() != data
                   for name, data in old.items()) or (root / "extmigrate_compat.h").exists():
                time.sleep(0.0005 * trial)
                os.killpg(proc.pid, signal.SIGKILL)
                killed_mid_write = True
                break
            time.sleep(0.0005)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert killed_mid_write, "the apply finished before any file changed"
    now = snapshot(root)
    for name, data in old.items():
        assert now[name] in (data, new[name]), f"{name} is neither the old nor the new file"
    if "extmigrate_compat.h" in now:
        assert now["extmigrate_compat.h"] == new["extmigrate_compat.h"]
    # A killed apply may leave its temp file behind, never a half-written source.
    assert all(n in old or n == "extmigrate_compat.h" or n.startswith(".extmigrate-") for n in now)
    # Running fix again finishes the job: the result is exactly the uninterrupted one.
    subprocess.run(fix_cmd(root), capture_output=True, timeout=300)
    final = {n: d for n, d in snapshot(root).items() if not n.startswith(".extmigrate-")}
    assert final == new
    shutil.rmtree(root)
