"""[tool.extmigrate] in pyproject.toml: loading, validation, and its effect on a real scan."""

from __future__ import annotations

import pytest

from extmigrate import config
from extmigrate.cli import main
from extmigrate.flags import ConfigError

SLOTS = """#include <Python.h>
static int exec_mod(PyObject *m) { return 0; }
static PyModuleDef_Slot slots[] = {{Py_mod_exec, exec_mod}, {0, NULL}};
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "m", NULL, 0, NULL, slots};
static PyObject *cache;
static PyObject *get(PyObject *self, PyObject *arg) { Py_XSETREF(cache, Py_NewRef(arg)); Py_RETURN_NONE; }
static PyMethodDef methods[] = {{"get", get, METH_O, NULL}, {NULL, NULL, 0, NULL}};
PyMODINIT_FUNC PyInit_m(void) { def.m_methods = methods; return PyModuleDef_Init(&def); }
"""


def project(tmp_path, settings: str):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'm'\nrequires-python = '>=3.9'\n\n" + settings)
    (tmp_path / "src").mkdir(exist_ok=True)
    (tmp_path / "src" / "m.c").write_text(SLOTS)
    return tmp_path


def test_load_reads_the_section_and_requires_python(tmp_path):
    project(tmp_path, '[tool.extmigrate]\nselect = ["FT2"]\njobs = 1\ngil-disabled = true\n')
    settings, path = config.load(config.find_pyproject([str(tmp_path / "src")]))
    assert path == str(tmp_path / "pyproject.toml")
    assert settings["select"] == ["FT2"] and settings["jobs"] == 1 and settings["gil-disabled"] is True
    assert settings["_requires_python"] == ">=3.9"


@pytest.mark.parametrize("section, message", [
    ('[tool.extmigrate]\nselct = ["FT2"]\n', "unknown key [tool.extmigrate] 'selct'"),
    ('[tool.extmigrate]\nselect = "FT201"\n', "select must be a list of strings"),
    ('[tool.extmigrate]\njobs = true\n', "jobs must be an integer"),
    ('[tool.extmigrate]\ntimeout = "60"\n', "timeout must be a number"),
    ('[tool.extmigrate\nselect = []\n', "invalid TOML"),
    ("[tool]\nextmigrate = 3\n", "must be a table"),
])
def test_bad_settings_are_config_errors(tmp_path, section, message):
    project(tmp_path, section)
    with pytest.raises(ConfigError) as e:
        config.load(str(tmp_path / "pyproject.toml"))
    assert message in str(e.value)


def test_config_selects_rules_and_flags_win(tmp_path, capsys):
    project(tmp_path, '[tool.extmigrate]\nselect = ["module-gil"]\njobs = 1\n')
    src = str(tmp_path / "src")
    assert main(["scan", src, "--format", "json", "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert '"FT201"' in out and '"FT301"' not in out
    assert main(["scan", src, "--format", "json", "--select", "FT301", "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert '"code": "FT301"' in out and '"code": "FT201"' not in out
    # --no-config ignores the section: every rule runs
    assert main(["scan", src, "--format", "json", "--no-config", "-j", "1", "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert '"code": "FT301"' in out and '"code": "FT201"' in out


def test_config_baseline_is_relative_to_pyproject(tmp_path, capsys, monkeypatch):
    project(tmp_path, '[tool.extmigrate]\nselect = ["FT201"]\nbaseline = "ci/baseline.json"\njobs = 1\n')
    (tmp_path / "ci").mkdir()
    src = str(tmp_path / "src")
    assert main(["scan", src, "--no-progress", "--write-baseline", str(tmp_path / "ci" / "baseline.json")]) == 0
    monkeypatch.chdir(tmp_path / "ci")  # the path in the config is not relative to the working dir
    assert main(["scan", src, "--no-progress"]) == 0
    assert "1 in baseline" in capsys.readouterr().out


def test_cli_config_errors_exit_2(tmp_path, capsys):
    project(tmp_path, '[tool.extmigrate]\nselect = ["FT999"]\n')
    assert main(["scan", str(tmp_path / "src")]) == 2
    err = capsys.readouterr().err
    assert "unknown rule code or name: FT999" in err and "Traceback" not in err
    assert main(["scan", str(tmp_path / "src"), "--config", str(tmp_path / "missing.toml")]) == 2
    assert "cannot read" in capsys.readouterr().err
