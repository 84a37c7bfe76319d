"""`extmigrate verify`: the sample built, imported and tested for real, plus its parts on real inputs.

The sample's CMakeLists builds ftsample.legacy._lru from src/legacy/ and ftsample._lru from src/migrated/,
each only when its source is there, so a copy without one folder is the legacy or the migrated project.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from extmigrate.cli import main
from extmigrate.runtime import project as P
from extmigrate.runtime import verify as V

SAMPLE = Path(__file__).resolve().parents[1] / "sample_ext"


def sample_copy(dest: Path, without: str | None = None) -> Path:
    """sample_ext copied to dest, without src/<without> (legacy or migrated) and, without legacy, without
    its Python package ftsample.legacy: a project that has only its migrated module."""
    shutil.copytree(SAMPLE, dest, ignore=shutil.ignore_patterns("build", "__pycache__", "*.egg-info"))
    if without:
        shutil.rmtree(dest / "src" / without)
    if without == "legacy":
        shutil.rmtree(dest / "python" / "ftsample" / "legacy")
    return dest


def verify_json(capsys, *args: str) -> tuple[int, dict]:
    code = main(["verify", *args, "--format", "json"])
    return code, json.loads(capsys.readouterr().out)


@pytest.fixture
def compiler():
    if not (shutil.which("cc") or shutil.which("gcc")):
        pytest.skip("no C compiler to build the sample wheel")


# ---- parts, on real inputs, no build --------------------------------------------------------------

def test_junit_outcomes_of_a_real_pytest_run(tmp_path):
    (tmp_path / "test_mix.py").write_text(
        "import pytest\n"
        "def test_ok(): pass\n"
        "def test_bad(): assert 0\n"
        "@pytest.mark.skip(reason='x')\ndef test_skip(): pass\n"
        "@pytest.fixture\ndef broken(): raise RuntimeError\n"
        "def test_err(broken): pass\n"
        "@pytest.mark.parametrize('n', [1, 2])\ndef test_p(n): assert n == 1\n")
    junit = tmp_path / "j.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}",
                    str(tmp_path / "test_mix.py")], capture_output=True, cwd=tmp_path)
    assert P.parse_junit(junit) == {
        "test_mix::test_ok": "passed", "test_mix::test_bad": "failed", "test_mix::test_skip": "skipped",
        "test_mix::test_err": "error", "test_mix::test_p[1]": "passed", "test_mix::test_p[2]": "failed"}


def test_a_step_logs_as_it_runs_and_fails_in_one_line(tmp_path):
    log = tmp_path / "step.log"
    code = "import sys; print('compiling', flush=True); print('error: boom', file=sys.stderr); sys.exit(3)"
    with pytest.raises(P.StepError) as e:
        P.run_logged([sys.executable, "-c", code], log, "building the wheel", timeout=60)
    assert str(e.value) == f"building the wheel failed (exit 3): error: boom (log: {log})"
    assert log.read_text().splitlines()[1:] == ["compiling", "error: boom", "", "[exit 3]"]
    with pytest.raises(P.StepError, match=r"^running the tests: no result within 0.5 s"):
        P.run_logged([sys.executable, "-c", "import time; time.sleep(30)"], log, "running the tests", 0.5)
    assert log.read_text().endswith("[timed out]\n")


def test_a_test_run_that_pytest_stops_keeps_what_ran(tmp_path):
    """An internal error after the first test (exit 3): the tests before it count, the run is 'stopped'."""
    proj = tmp_path / "proj"
    (proj / "tests").mkdir(parents=True)
    (proj / "tests" / "test_a.py").write_text("def test_one(): pass\ndef test_two(): pass\n")
    (proj / "tests" / "conftest.py").write_text(
        "def pytest_runtest_logfinish(nodeid, location):\n"
        "    if nodeid.endswith('test_one'):\n        raise RuntimeError('harness broke')\n")
    run = P.run_tests(Path(sys.executable), proj, tmp_path / "logs", threads=1, tests=["tests"],
                      free_threaded=False, timeout=120)
    assert (run.returncode, run.stopped, run.crashed) == (3, "internal error", False)
    assert run.outcomes == {"tests.test_a::test_one": "passed"}
    reasons = V.problems(V.TreeResult("project", str(proj), tests=run), None, None)
    assert reasons == [f"pytest stopped (internal error, exit 3) after 1 tests (see {run.log})"]


def test_thread_unsafe_fixtures_and_functions_run_their_tests_in_one_thread(tmp_path):
    """A fixture whose state the threads of one test share, and a test calling sys.getrefcount (not on
    pytest-run-parallel's own list): in 4 threads both fail; named with --thread-unsafe both run in one thread and pass, and still count."""
    pytest.importorskip("pytest_run_parallel")
    proj = tmp_path / "proj"
    (proj / "tests").mkdir(parents=True)
    (proj / "tests" / "test_shared.py").write_text(
        "import sys, threading, time\nimport pytest\n"
        "@pytest.fixture\ndef box():\n    return []\n"
        "def test_box(box):\n    box.append(threading.get_ident())\n    time.sleep(0.2)\n"
        "    assert len(box) == 1\n"
        "seen = []\n"
        "def test_collect():\n    seen.append(1)\n    sys.getrefcount(seen)\n    time.sleep(0.2)\n"
        "    assert len(seen) == 1\n")
    assert V.thread_unsafe_args(["box", "sys.getrefcount"]) == [
        "-o", "thread_unsafe_fixtures=box", "-o", "thread_unsafe_functions=sys.getrefcount"]
    plain = P.run_tests(Path(sys.executable), proj, tmp_path / "l1", threads=4, tests=["tests"],
                        free_threaded=False, timeout=120)
    assert plain.outcomes == {"tests.test_shared::test_box": "failed",
                              "tests.test_shared::test_collect": "failed"}
    marked = P.run_tests(Path(sys.executable), proj, tmp_path / "l2", threads=4, tests=["tests"],
                         free_threaded=False, timeout=120,
                         extra_args=V.thread_unsafe_args(["box", "sys.getrefcount"]))
    assert marked.outcomes == {"tests.test_shared::test_box": "passed",
                               "tests.test_shared::test_collect": "passed"}


def test_extension_modules_of_a_wheel(tmp_path):
    wheel = tmp_path / "pkg-1.0-cp314-cp314t-linux_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name in ("pkg/__init__.py", "pkg/_core.cpython-314t-x86_64-linux-gnu.so", "pkg/sub/_x.abi3.so",
                     "pkg-1.0.data/platlib/top.cpython-314t-x86_64-linux-gnu.so",
                     "pkg.libs/libfoo-1a2b.so.1", "pkg-1.0.data/scripts/tool.so", "pkg/bad-name.so"):
            zf.writestr(name, b"")
    assert P.extension_modules(wheel) == ["pkg._core", "pkg.sub._x", "top"]


def test_tests_run_from_a_copy_without_the_source_the_wheel_installs(tmp_path):
    wheel = tmp_path / "pkg-1.0-cp314-cp314t-linux_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name in ("pkg/__init__.py", "pkg/_c.cpython-314t-x86_64-linux-gnu.so", "mod.py",
                     "_fast.cpython-314t-x86_64-linux-gnu.so", "pkg-1.0.dist-info/METADATA"):
            zf.writestr(name, b"")
    proj = tmp_path / "proj"
    for name in ("pkg/__init__.py", "mod.py", "tests/test_a.py", "conftest.py", "other/x.py",
                 ".git/HEAD", "build/lib/pkg/__init__.py", "inner/__init__.py", "inner/tests/test_b.py"):
        (proj / name).parent.mkdir(parents=True, exist_ok=True)
        (proj / name).write_text("")
    where, removed = P.copy_for_tests(proj, wheel, tmp_path / "copy", ["tests"])
    assert removed == ["mod.py", "pkg"]
    assert sorted(str(p.relative_to(where)) for p in where.rglob("*") if p.is_file()) == [
        "conftest.py", "inner/__init__.py", "inner/tests/test_b.py", "other/x.py", "tests/test_a.py"]
    assert (proj / "pkg" / "__init__.py").exists()  # the project itself is untouched
    # tests inside the installed package: the package is kept (its source then shadows the wheel)
    _, removed = P.copy_for_tests(proj, wheel, tmp_path / "copy2", ["pkg/tests"])
    assert removed == ["mod.py"]


def _tree(label: str, exts: list[str], outcomes: dict[str, str]) -> V.TreeResult:
    return V.TreeResult(label, label, extension_modules=exts, tests=P.TestRun(0, outcomes))


def test_comparison_catches_a_reduced_build_and_new_failures():
    base = _tree("baseline", ["p._a", "p._simd"], {"t::a": "passed", "t::b": "passed", "t::c": "failed",
                                                   "t::d": "passed", "t::simd": "passed"})
    new = _tree("project", ["p._a"], {"t::a": "passed", "t::b": "failed", "t::c": "passed", "t::d": "skipped",
                                      "t::e": "passed"})
    cmp = V.compare(base, new)
    assert (cmp["missing_extension_modules"], cmp["missing_tests"], cmp["added_tests"], cmp["new_failures"],
            cmp["newly_skipped"], cmp["fixed"]) == (["p._simd"], ["t::simd"], ["t::e"], ["t::b"], ["t::d"],
                                                    ["t::c"])
    reasons = V.problems(new, base, cmp)
    assert [r.split(":")[0] for r in reasons] == [
        "1 tests failed and 0 errored (see )", "extension modules the baseline builds are missing",
        "1 tests of the baseline are missing", "1 tests fail that the baseline passes or skips",
        "1 tests are skipped that the baseline passes"]
    same = _tree("project", ["p._a", "p._simd"], dict(base.tests.outcomes, **{"t::c": "passed"}))
    assert V.problems(same, base, V.compare(base, same)) == []
    # a wheel without any extension module (an optional extension that failed) fails even alone
    pure = _tree("project", [], {"t::a": "passed"})
    pure.wheel = "p-1.0-cp314-cp314t-linux_x86_64.whl"
    assert V.problems(pure, None, None) == [
        "the wheel holds no extension module (an optional extension that failed to build? see build.log)"]


def test_baseline_from_a_git_ref(tmp_path):
    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    (repo / "pkg" / "setup.py").write_text("old\n")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    (repo / "pkg" / "setup.py").write_text("new\n")
    tree = V.baseline_tree("HEAD", repo / "pkg", tmp_path / "w")
    assert (tree / "setup.py").read_text() == "old\n" and not (tree / "pkg").exists()
    with pytest.raises(V.UsageError, match="neither a folder nor a git ref"):
        V.baseline_tree("no-such-ref", repo / "pkg", tmp_path / "w2")


def test_usage_errors_exit_2(tmp_path, capsys):
    assert main(["verify", str(tmp_path), "--python", sys.executable]) == 2
    assert "not a Python project" in capsys.readouterr().err
    proj = sample_copy(tmp_path / "s")
    assert main(["verify", str(proj), "--python", str(tmp_path / "nopython")]) == 2
    assert "no such interpreter" in capsys.readouterr().err
    assert main(["verify", str(proj), "--python", sys.executable, "--baseline", "nope"]) == 2
    assert "neither a folder nor a git ref" in capsys.readouterr().err


# ---- the sample, built and tested with the running (GIL) interpreter -------------------------------

def test_gil_build_verifies_and_the_gil_check_does_not_apply(tmp_path, capsys, compiler):
    proj = sample_copy(tmp_path / "sample")
    code, doc = verify_json(capsys, str(proj), "--python", sys.executable, "--threads", "2",
                            "--workdir", str(tmp_path / "w"))
    assert code == 0, doc["problems"]
    assert doc["ok"] and doc["free_threaded"] is None
    t = doc["project"]
    assert t["extension_modules"] == ["ftsample._lru", "ftsample.legacy._lru"]
    assert [(i["module"], i["error"], i["enabled_gil"]) for i in t["imports"]] == [
        ("ftsample._lru", None, None), ("ftsample.legacy._lru", None, None)]
    assert t["tests"]["collected"] == t["tests"]["passed"] > 0 and not t["tests"]["crashed"]
    assert not (tmp_path / "w" / "venv-project").exists()  # venvs removed, logs kept
    assert (tmp_path / "w" / "project" / "tests.log").is_file()


def test_a_reduced_build_against_a_git_baseline_fails(tmp_path, capsys, compiler):
    """The working tree lost src/migrated/ since HEAD: one module and its tests are gone."""
    repo = sample_copy(tmp_path / "repo")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "sample"], check=True)
    shutil.rmtree(repo / "src" / "migrated")
    code, doc = verify_json(capsys, str(repo), "--python", sys.executable, "--threads", "2",
                            "--baseline", "HEAD", "--workdir", str(tmp_path / "w"))
    cmp = doc["comparison"]
    assert code == 1 and not doc["ok"]
    assert cmp["missing_extension_modules"] == ["ftsample._lru"]
    base_migrated = [t for t in cmp["missing_tests"] if "[migrated" in t]
    assert cmp["missing_tests"] == base_migrated and len(base_migrated) > 10
    assert cmp["baseline_counts"]["collected"] - cmp["counts"]["collected"] == len(base_migrated)
    assert cmp["new_failures"] == [] and doc["project"]["tests"]["failed"] == 0
    assert doc["problems"][0] == "extension modules the baseline builds are missing: ftsample._lru"
    assert doc["problems"][1].startswith(f"{len(base_migrated)} tests of the baseline are missing")


# ---- free-threaded ----------------------------------------------------------------------------------

def test_ft_migrated_sample_verifies(tmp_path, capsys, compiler, ft_python):
    proj = sample_copy(tmp_path / "migrated", without="legacy")
    code, doc = verify_json(capsys, str(proj), "--python", ft_python, "--workdir", str(tmp_path / "w"))
    assert code == 0, doc["problems"]
    assert doc["free_threaded"] is True
    assert [(i["module"], i["enabled_gil"], i["error"]) for i in doc["project"]["imports"]] == [
        ("ftsample._lru", False, None)]
    tests = doc["project"]["tests"]
    assert (tests["failed"], tests["error"]) == (0, 0) and tests["passed"] > 50
    # the stress tests run too without the GIL; only the legacy package's own test has nothing to test
    assert tests["skipped_tests"] == ["tests.test_lru::test_legacy_package_exports"]


def test_ft_legacy_sample_fails_naming_the_module(tmp_path, capsys, compiler, ft_python):
    proj = sample_copy(tmp_path / "legacy", without="migrated")
    assert main(["verify", str(proj), "--python", ft_python, "--workdir", str(tmp_path / "w")]) == 1
    out = capsys.readouterr().out
    assert "import   ftsample.legacy._lru: RE-ENABLED THE GIL" in out
    assert "FAILED: importing ftsample.legacy._lru re-enabled the GIL" in out
