"""`extmigrate stress`: interpreter checks, the 1-vs-N thread comparison on a real extension, and,
with a ThreadSanitizer-built free-threaded CPython ($EXTMIGRATE_TSAN_PYTHON, or a python3.14t on PATH
built --with-thread-sanitizer), the races it reports joined with the scan."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
import sysconfig
from pathlib import Path

import pytest

from extmigrate.cli import main
from extmigrate.runtime import build_env
from extmigrate.runtime import test_runs
from extmigrate.runtime.test_runs import outcomes_of
from tests.conftest import find_tsan_python

PROJECT = Path(__file__).parent / "data" / "stress_project"


@pytest.fixture
def project(tmp_path) -> Path:
    """A copy of the racy-counter project: its build writes into its tree."""
    return Path(shutil.copytree(PROJECT, tmp_path / "proj"))


def test_a_gil_build_is_refused_in_one_line(capsys):
    if sysconfig.get_config_var("Py_GIL_DISABLED"):
        pytest.skip("the running interpreter is free-threaded")
    assert main(["stress", str(PROJECT), "--python", sys.executable]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not a free-threaded build" in err[0]


def test_tsan_needs_a_tsan_build(ft_python, capsys):
    if build_env.probe(ft_python).tsan:
        pytest.skip("the free-threaded interpreter is a ThreadSanitizer build")
    assert main(["stress", str(PROJECT), "--python", ft_python, "--tsan"]) == 2
    err = capsys.readouterr().err
    assert "is not a ThreadSanitizer build" in err and "--with-thread-sanitizer" in err


def test_usage_errors(capsys):
    assert main(["stress", str(PROJECT / "missing"), "--python", sys.executable]) == 2
    assert main(["stress", str(PROJECT), "--python", sys.executable, "--threads", "1"]) == 2
    assert main(["stress", str(PROJECT), "--python", str(PROJECT / "no-python")]) == 2
    assert "no interpreter at" in capsys.readouterr().err


def test_outcomes_from_pytest_run_parallel_output():
    out = ("tests/a.py::test_x[legacy] PASSED [thread-unsafe]: relies on the GIL [  0%]\n"
           "tests/a.py::test_y PARALLEL FAILED            [ 50%]\n"
           "tests/a.py::test_z ")
    assert outcomes_of(out) == ({"tests/a.py::test_x[legacy]": "passed", "tests/a.py::test_y": "failed"},
                                "tests/a.py::test_z")


def test_thread_only_failure_without_tsan(ft_python, project, tmp_path, capsys):
    rc = main(["stress", str(project), "--python", ft_python, "--threads", "4", "--format", "json",
               "--work-dir", str(tmp_path / "work")])
    out = capsys.readouterr()
    report = json.loads(out.out)
    runs = report["tests"]["runs"]
    assert [r["threads"] for r in runs] == [1, 4]
    assert runs[0]["outcomes"] == {"tests/check_count.py::test_bump_adds_exactly_n": "passed",
                                   "tests/check_count.py::test_count_is_an_int": "passed"}
    assert report["tests"]["thread_only_failures"] == ["tests/check_count.py::test_bump_adds_exactly_n"]
    assert report["races"] == [] and report["tsan"] is False
    assert any("races were not instrumented" in n for n in report["notes"])
    assert [Path(m).name.split(".")[0] for m in report["modules"]] == ["racycount"]
    assert rc == 1


def test_tsan_run_confirms_the_counter_race(project, tmp_path, capsys):
    tsan_py = find_tsan_python()
    if tsan_py is None:
        pytest.skip("no ThreadSanitizer-built free-threaded CPython: set EXTMIGRATE_TSAN_PYTHON")
    rc = main(["stress", str(project), "--python", tsan_py, "--tsan", "--threads", "4", "--format", "json",
               "--work-dir", str(tmp_path / "work")])
    report = json.loads(capsys.readouterr().out)
    confirmed = {c["finding"]["code"]: c for c in report["confirmed"]}
    assert "FT301" in confirmed and confirmed["FT301"]["finding"]["symbol"] == "counter"
    races = [m["race"] for m in confirmed["FT301"]["races"]]
    assert all(r["variable"] == "counter" for r in races)
    # the unlocked counter++ in bump() races with another bump() or with count()'s read
    assert all("bump" in {s["function"] for s in r["sites"]} for r in races)
    assert report["dynamic_only"] == []
    assert rc == 1


def test_a_crashed_run_resumes_without_the_crashed_test(tmp_path):
    # A stand-in for pytest -v: test_b "crashes" (the process stops mid-line, as under TSan's handler)
    # unless it is deselected; the resumed run deselects it and the test already done.
    script = (
        "import sys\n"
        "skip = {a.split('=', 1)[1] for a in sys.argv[1:] if a.startswith('--deselect=')}\n"
        "for t in ('t.py::test_a', 't.py::test_b', 't.py::test_c'):\n"
        "    if t in skip: continue\n"
        "    print(t + ' ', end='', flush=True)\n"
        "    if t == 't.py::test_b': sys.exit(0)\n"
        "    print('PASSED')\n"
        "print('==== 2 passed in 0.01s ====')\n")
    run = test_runs.run([sys.executable, "-c", script], str(tmp_path), dict(os.environ), 4,
                        str(tmp_path / "logs"), 60, pytest=True)
    assert run.outcomes == {"t.py::test_a": "passed", "t.py::test_b": "crashed", "t.py::test_c": "passed"}
    assert [(c.test, c.status) for c in run.crashes] == [("t.py::test_b", "died before pytest's summary")]
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == [
        "stderr.0.txt", "stderr.1.txt", "stdout.0.txt", "stdout.1.txt"]


def test_a_command_run_compares_exit_statuses(tmp_path):
    # --command: {threads} is N, and only the exit status tells a thread-only failure
    from extmigrate.runtime.build_env import Interpreter
    from extmigrate.runtime.stress import StressResult

    script = "import sys; sys.exit(int(sys.argv[1]) > 1)"
    runs = [test_runs.run(f"{shlex.quote(sys.executable)} -c {shlex.quote(script)} "
                          + test_runs.user_command("{threads}", n), str(tmp_path), dict(os.environ), n,
                          str(tmp_path / f"t{n}"), 60, pytest=False) for n in (1, 4)]
    assert [r.returncode for r in runs] == [0, 1]
    result = StressResult(str(tmp_path), Interpreter(sys.executable, "3", True, False), False, 4, runs=runs)
    assert result.thread_only_failures == ["the command"] and result.thread_only_crashes == []
