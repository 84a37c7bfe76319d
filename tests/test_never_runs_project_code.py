"""Neither scan nor fix executes, imports or builds anything from the scanned tree."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

EXTMIGRATE = str(Path(sys.executable).with_name("extmigrate"))  # the console script a user runs


def test_scan_and_fix_never_run_project_code(tmp_path, monkeypatch):
    marker = tmp_path / "EXECUTED"
    boom = f"open({str(marker)!r}, 'a').write(__file__ + '\\n')\n"
    proj = tmp_path / "proj"
    (proj / "src").mkdir(parents=True)
    (proj / "numpy").mkdir()
    (proj / "setup.py").write_text(boom + "from setuptools import setup\nsetup(py_limited_api=True)\n")
    (proj / "conftest.py").write_text(boom)
    (proj / "sitecustomize.py").write_text(boom)
    (proj / "numpy" / "__init__.py").write_text(boom + "def get_include(): return '/'\n")
    (proj / "CMakeLists.txt").write_text(f'execute_process(COMMAND touch "{marker}")\n'
                                         "python_add_library(m MODULE USE_SABI 3.10 m.c)\n")
    (proj / "compile_commands.json").write_text(
        f'[{{"directory": "{proj}", "file": "src/m.c", "command": "touch {marker} && cc -c src/m.c"}}]')
    (proj / "src" / "m.c").write_text(
        "#include <Python.h>\n#include <numpy/arrayobject.h>\n"
        "static long n;\nstatic PyObject *f(PyObject *m, PyObject *a) { n++; return PyLong_FromLong(n); }\n"
        'static PyMethodDef methods[] = {{"f", f, METH_NOARGS, NULL}, {NULL}};\n')
    monkeypatch.chdir(proj)  # the project folder as the working directory, the worst case
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": ""}
    for cmd in (["scan", "--no-cache", "."], ["fix", "--no-cache", "--apply", "."]):
        proc = subprocess.run([EXTMIGRATE, *cmd], capture_output=True,
                              text=True, env=env, timeout=300)
        assert proc.returncode in (0, 1), proc.stderr
        assert "Traceback" not in proc.stderr
    assert not marker.exists(), marker.read_text()
    # the build files were still read (as text): the limited-API settings are reported
    out = subprocess.run([EXTMIGRATE, "scan", "--no-cache", "--select", "FT513", "--format", "json", "."],
                         capture_output=True, text=True, env=env).stdout
    paths = {Path(f["path"]).name for f in json.loads(out)["findings"]}
    assert {"setup.py", "CMakeLists.txt"} <= paths
    assert not marker.exists()
