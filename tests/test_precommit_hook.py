"""The pre-commit hook (.pre-commit-hooks.yaml) for real: `pre-commit try-repo` on a fixture git repo."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SLOTS = """#include <Python.h>
static int exec_mod(PyObject *m) { return 0; }
static PyModuleDef_Slot slots[] = {{Py_mod_exec, exec_mod}, {0, NULL}};
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "m", NULL, 0, NULL, slots};
PyMODINIT_FUNC PyInit_m(void) { return PyModuleDef_Init(&def); }
"""
# A global a method writes (FT301) beside the missing Py_mod_gil slot (FT201).
RACY = SLOTS.replace("static int exec_mod", """static long calls;
static PyObject *hit(PyObject *self, PyObject *arg) { calls++; Py_RETURN_NONE; }
static PyMethodDef methods[] = {{"hit", hit, METH_O, NULL}, {NULL, NULL, 0, NULL}};
static int exec_mod""").replace('"m", NULL, 0, NULL, slots', '"m", NULL, 0, methods, slots')
CLEAN = SLOTS.replace("{Py_mod_exec, exec_mod}, {0, NULL}",
                      "{Py_mod_exec, exec_mod},\n#ifdef Py_mod_gil\n{Py_mod_gil, Py_MOD_GIL_NOT_USED},\n"
                      "#endif\n{0, NULL}")


def test_hook_definition():
    [hook] = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "extmigrate" and hook["language"] == "python"
    assert hook["types_or"] == ["c", "c++"] and hook["require_serial"] is True
    assert hook["entry"].split()[:2] == ["extmigrate", "scan"]


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_try_repo_scans_the_staged_c_files_with_the_projects_config(tmp_path):
    if subprocess.run(["git", "rev-parse", "--git-dir"], cwd=REPO, capture_output=True).returncode:
        pytest.skip("pre-commit try-repo needs this checkout to be a git repository")
    fixture = tmp_path / "ext"
    (fixture / "src").mkdir(parents=True)
    (fixture / "src" / "racy.c").write_text(RACY)
    (fixture / "src" / "clean.c").write_text(CLEAN)
    (fixture / "notes.txt").write_text("not C\n")
    (fixture / "pyproject.toml").write_text('[project]\nname = "ext"\n\n[tool.extmigrate]\nselect = ["FT201"]\n')
    _git(fixture, "init", "-q")
    _git(fixture, "add", ".")
    env = dict(os.environ, PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home"), PRE_COMMIT_COLOR="never",
               XDG_CACHE_HOME=str(tmp_path / "cache"))
    r = subprocess.run([sys.executable, "-m", "pre_commit", "try-repo", str(REPO), "extmigrate",
                        "--all-files", "--verbose"], cwd=fixture, env=env, capture_output=True,
                       text=True, timeout=1200)
    out = r.stdout + r.stderr
    if "An unexpected error has occurred" in out and "Installing environment" in out:
        tail = " / ".join(line for line in out.splitlines()[-6:] if line.strip())
        pytest.skip(f"pre-commit could not install the hook environment: {tail[-400:]}")
    assert r.returncode == 1, out
    assert re.search(r"^extmigrate \(free-threading hazards\)\.+Failed$", out, re.M), out
    assert "src/racy.c:6:25: FT201 " in out  # the finding, with the pyproject's select
    assert "FT301" not in out and "clean.c:" not in out and "notes.txt" not in out
    assert "Found 1 finding in 2 files" in out  # both C files, one scan; the text file not passed
