"""verify-import on real extension modules built here for a free-threaded interpreter."""

from __future__ import annotations

import json
import shutil
import subprocess
import sysconfig

import pytest

from extmigrate.cli import main
from tests.conftest import header_pythons

MODULE = """
#include <Python.h>
static PyObject *ping(PyObject *m, PyObject *a) { return PyLong_FromLong(1); }
static PyMethodDef methods[] = {{"ping", ping, METH_NOARGS, NULL}, {NULL}};
static PyModuleDef_Slot slots[] = {
%s
    {0, NULL}};
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "%s", NULL, 0, methods, slots};
PyMODINIT_FUNC PyInit_%s(void) { return PyModuleDef_Init(&def); }
"""


def build_ext(python: str, folder, name: str, declare: bool) -> None:
    """Compile a tiny multi-phase module for `python` with gcc (no setuptools, no project code)."""
    if shutil.which("cc") is None:
        pytest.skip("no C compiler")
    info = json.loads(subprocess.run(
        [python, "-c", "import sysconfig, json; print(json.dumps([sysconfig.get_paths()['include'], "
                       "sysconfig.get_config_var('EXT_SUFFIX')]))"],
        capture_output=True, text=True, check=True).stdout)
    src = folder / f"{name}.c"
    slot = "    {Py_mod_gil, Py_MOD_GIL_NOT_USED}," if declare else ""
    src.write_text(MODULE % (slot, name, name))
    subprocess.run(["cc", "-shared", "-fPIC", f"-I{info[0]}", str(src), "-o",
                    str(folder / f"{name}{info[1]}")], check=True)


def test_ft_import_reports_which_module_enables_the_gil(ft_python, tmp_path, monkeypatch, capsys):
    build_ext(ft_python, tmp_path, "safe_mod", declare=True)
    build_ext(ft_python, tmp_path, "legacy_mod", declare=False)
    monkeypatch.chdir(tmp_path)
    code = main(["verify-import", "safe_mod", "legacy_mod", "--python", ft_python, "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1 and doc["failed"] and doc["free_threaded_build"]
    safe, legacy = doc["imports"]
    assert (safe["gil_before"], safe["gil_after"], safe["enabled_gil"]) == (False, False, False)
    assert (legacy["gil_before"], legacy["gil_after"], legacy["enabled_gil"]) == (False, True, True)
    assert any("GIL" in w and "legacy_mod" in w for w in legacy["warnings"])


def test_ft_import_of_safe_module_passes(ft_python, tmp_path, monkeypatch, capsys):
    build_ext(ft_python, tmp_path, "safe_mod", declare=True)
    monkeypatch.chdir(tmp_path)
    assert main(["verify-import", "safe_mod", "--python", ft_python]) == 0
    assert "The GIL stayed disabled." in capsys.readouterr().out


def test_gil_build_reports_build_and_import_errors(capsys):
    code = main(["verify-import", "json", "no_such_module_xyz"])
    out = capsys.readouterr().out
    assert code == 1  # the failed import
    assert "GIL build" in out and "No module named 'no_such_module_xyz'" in out
    assert sysconfig.get_config_var("Py_GIL_DISABLED") in (None, 0)


def test_missing_interpreter_is_a_usage_error(capsys):
    assert main(["verify-import", "json", "--python", "/nonexistent/python"]) == 2
    assert "no interpreter" in capsys.readouterr().err


@pytest.mark.parametrize("python", header_pythons(), ids=[c.id for c in header_pythons()])
def test_probe_runs_on_every_discovered_python(python):
    """The probe itself must run on every interpreter a user may point it at (3.10 is the oldest
    supported; the running one is always among them)."""
    from extmigrate.runtime.verify_import import verify

    rep = verify(["json"], python.exe)
    assert rep.data["python"].startswith("%d.%d" % python.version) and not rep.failed
