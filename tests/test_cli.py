"""The command line end to end: exit codes, formats, output files, rule selection, rules/explain."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys

import pytest

from extmigrate.cli import main

SLOTS = """#include <Python.h>
static int exec_mod(PyObject *m) { return 0; }
static PyModuleDef_Slot slots[] = {{Py_mod_exec, exec_mod}, {0, NULL}};
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "m", NULL, 0, NULL, slots};
PyMODINIT_FUNC PyInit_m(void) { return PyModuleDef_Init(&def); }
"""
CLEAN = SLOTS.replace("{Py_mod_exec, exec_mod}, {0, NULL}",
                      "{Py_mod_exec, exec_mod},\n#ifdef Py_mod_gil\n{Py_mod_gil, Py_MOD_GIL_NOT_USED},\n"
                      "#endif\n{0, NULL}")


@pytest.fixture
def tree(tmp_path):
    def make(files: dict[str, str]):
        for name, text in files.items():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_text(text)
        return str(tmp_path)
    return make


def run(*argv) -> int:
    return main(["scan", "--no-progress", "-j", "1", "--no-config", *argv])


def test_exit_codes_clean_findings(tree, capsys):
    assert run(tree({"ok.c": CLEAN}), "--select", "FT201") == 0
    assert "Found 0 findings in 1 file." in capsys.readouterr().out
    assert run(tree({"bad.c": SLOTS}), "--select", "FT201") == 1
    assert "bad.c:3:25: FT201 " in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--select", "FT999"], "unknown rule code or name: FT999"),
    (["--ignore", "no-such-rule"], "unknown rule code or name: no-such-rule"),
    (["--baseline", "/nonexistent/baseline.json"], "cannot read baseline"),
    (["-j", "-1"], "--jobs"),
    (["--output", "/nonexistent/dir/report.txt"], "cannot write /nonexistent/dir/report.txt"),
])
def test_usage_errors_exit_2_with_one_line(tree, capsys, argv, message):
    assert run(tree({"bad.c": SLOTS}), *argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_missing_path_exits_2(tmp_path, capsys):
    assert run(str(tmp_path / "nope")) == 2
    assert "no such file or directory" in capsys.readouterr().err


def test_bad_baseline_content_exits_2(tree, tmp_path, capsys):
    root = tree({"bad.c": SLOTS})
    (tmp_path / "b.json").write_text("[1, 2")
    assert run(root, "--baseline", str(tmp_path / "b.json")) == 2
    assert "is not an extmigrate baseline" in capsys.readouterr().err


@pytest.mark.parametrize("key", ["FT201", "FT2", "FT20", "module-gil-slot", "module-gil", "ALL"])
def test_select_by_code_prefix_name_category(tree, capsys, key):
    assert run(tree({"bad.c": SLOTS}), "--select", key, "--format", "json") == 1
    doc = json.loads(capsys.readouterr().out)
    assert "FT201" in doc["summary"]["rules"]
    assert [f["code"] for f in doc["findings"]] == ["FT201"]
    if key.startswith("FT2") or key.startswith("module-gil"):
        assert all(c.startswith("FT2") for c in doc["summary"]["rules"])


@pytest.mark.parametrize("key", ["FT201", "FT2", "module-gil-slot", "module-gil"])
def test_ignore_by_code_prefix_name_category(tree, capsys, key):
    assert run(tree({"bad.c": SLOTS}), "--select", "FT201,FT202", "--ignore", key) == 0
    capsys.readouterr()


def test_output_file_for_each_format(tree, tmp_path, capsys):
    root = tree({"bad.c": SLOTS})
    for fmt in ("text", "json", "sarif"):
        out = tmp_path / f"report.{fmt}"
        assert run(root, "--select", "FT201", "--format", fmt, "--output", str(out)) == 1
        captured = capsys.readouterr()
        assert captured.out == ""  # the report went to the file; the summary to stderr
        assert "Found 1 finding in 1 file" in captured.err
        body = out.read_text()
        assert "\033[" not in body
        if fmt == "text":
            assert "bad.c:3:25: FT201 " in body
        else:
            json.loads(body)


def test_write_baseline_then_scan_with_it(tree, tmp_path, capsys):
    root = tree({"bad.c": SLOTS})
    base = str(tmp_path / "baseline.json")
    assert run(root, "--select", "FT201", "--write-baseline", base) == 0
    assert "wrote 1 finding(s)" in capsys.readouterr().err
    assert run(root, "--select", "FT201", "--baseline", base) == 0
    assert "(1 in baseline)" in capsys.readouterr().out


def test_rules_and_explain(capsys):
    assert main(["rules"]) == 0
    listing = capsys.readouterr().out.splitlines()
    for code, name in [("FT201", "module-gil-slot"), ("FT202", "module-gil-single-phase"),
                       ("FT203", "module-gil-pybind11"), ("FT204", "module-gil-nanobind"),
                       ("FT205", "module-gil-declared-too-early")]:
        assert any(line.split()[:2] == [code, name] for line in listing)
    assert main(["rules", "--category", "module-gil"]) == 0
    assert all(line.split()[2] == "module-gil" for line in capsys.readouterr().out.splitlines())
    for key in ("FT202", "ft202", "module-gil-single-phase"):
        assert main(["explain", key]) == 0
        text = capsys.readouterr().out
        assert text.startswith("FT202 module-gil-single-phase (module-gil, warning)")
        assert "Before:" in text and "After:" in text and "PyUnstable_Module_SetGIL" in text
    assert main(["explain", "FT999"]) == 2
    assert "unknown rule 'FT999'" in capsys.readouterr().err


def _env():
    env = dict(os.environ)
    src = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("NO_COLOR", None)
    return env


def test_python_dash_m_subprocess(tree):
    root = tree({"bad.c": SLOTS})
    cmd = [sys.executable, "-m", "extmigrate", "scan", root, "--select", "FT201", "--format", "sarif", "-j", "1"]
    p = subprocess.run(cmd, capture_output=True, text=True, env=_env(), cwd=root)
    assert p.returncode == 1, p.stderr
    assert json.loads(p.stdout)["runs"][0]["results"][0]["ruleId"] == "FT201"
    p = subprocess.run([sys.executable, "-m", "extmigrate", "scan", root, "--format", "yaml"],
                       capture_output=True, text=True, env=_env())
    assert p.returncode == 2 and "invalid choice" in p.stderr


def test_progress_bar_and_colour_only_on_a_terminal(tree):
    root = tree({f"m{i}.c": CLEAN.replace('"m"', f'"m{i}"') for i in range(6)} | {"bad.c": SLOTS})
    cmd = [sys.executable, "-m", "extmigrate", "scan", root, "--select", "FT201", "-j", "1", "--no-config"]
    # stderr on a pseudo-terminal, stdout on a pipe
    master, slave = pty.openpty()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=slave, env=_env(), cwd=root)
    err = _drain(master, slave)
    assert p.returncode == 1
    assert b"] 7/7 files" in err and b"[" + b"#" * 30 + b"]" in err
    assert err.rstrip(b" ").endswith(b"\r")  # the bar is wiped at the end
    assert b"\033[" not in p.stdout  # stdout is a pipe: no colour
    # stderr not a terminal: no bar
    p = subprocess.run(cmd, capture_output=True, env=_env(), cwd=root)
    assert b"files" not in p.stderr
    # stdout on a terminal: colour (unless NO_COLOR)
    assert b"\033[" in _on_tty_stdout(cmd, _env(), root)
    assert b"\033[" not in _on_tty_stdout(cmd, _env() | {"NO_COLOR": "1"}, root)


def _on_tty_stdout(cmd, env, cwd) -> bytes:
    master, slave = pty.openpty()
    subprocess.run(cmd, stdout=slave, stderr=subprocess.DEVNULL, env=env, cwd=cwd)
    return _drain(master, slave)


def _drain(master: int, slave: int) -> bytes:
    """Everything the child wrote to the pseudo-terminal (read after it exited)."""
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: no writer left
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    return out


def test_exit_zero_quiet_and_statistics(tree, tmp_path, capsys):
    root = tree({"bad.c": SLOTS})
    assert run(root, "--select", "FT201", "--exit-zero") == 0
    assert "bad.c:3:25: FT201 " in capsys.readouterr().out
    assert run(root, "--select", "FT999", "--exit-zero") == 2  # usage errors still fail
    capsys.readouterr()
    assert run(root, "--select", "FT201", "--quiet") == 1
    out, err = capsys.readouterr()
    assert "bad.c:3:25: FT201 " in out and "Found" not in out and "FT201  module-gil-slot" not in out
    assert run(root, "--select", "FT201", "-q", "-o", str(tmp_path / "r.txt")) == 1
    assert capsys.readouterr() == ("", "")
    assert run(root, "--select", "FT201", "--statistics") == 1
    assert capsys.readouterr().out == "1\tFT201\t[*] module-gil-slot\n"
    assert run(root, "--select", "FT201", "--statistics", "--format", "json", "--exit-zero") == 0
    assert json.loads(capsys.readouterr().out) == [
        {"code": "FT201", "name": "module-gil-slot", "count": 1, "fixable": 1}]
    assert run(root, "--statistics", "--format", "sarif") == 2
    assert "--statistics works with --format json or text" in capsys.readouterr().err


def test_format_github(tree, capsys, monkeypatch):
    root = tree({"bad.c": SLOTS})
    monkeypatch.chdir(root)
    assert run(".", "--select", "FT201", "--format", "github") == 1
    out = capsys.readouterr().out
    assert out.startswith("::warning file=bad.c,line=3,col=25,endLine=3,endColumn=30,"
                          "title=FT201 module-gil-slot::")
    assert out.count("\n") == 1
