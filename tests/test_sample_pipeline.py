"""The sample's whole loop: migrate (scripts/migrate_sample.py), scan, build wheels, test them in venvs.

Wheels are built with `pip wheel` (scikit-build-core, CMake) for the running interpreter, the other
discovered CPythons (python3.X on PATH ...), and a free-threaded one (ft_python); each is installed into a fresh venv and runs
sample_ext/tests there, from outside the source tree.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from extmigrate.cli import main
from tests.conftest import header_pythons

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_ext"
MIGRATED = SAMPLE / "src" / "migrated"
SCRIPT = ROOT / "scripts" / "migrate_sample.py"
TEST_DEPS = ["pytest", "pytest-run-parallel"]


def run_migration(dest: Path) -> subprocess.CompletedProcess:
    """Copy what the migration reads (legacy source, pyproject, manual steps) to dest and migrate there."""
    shutil.copytree(SAMPLE / "src" / "legacy", dest / "src" / "legacy")
    for name in ("pyproject.toml", "manual-steps.patch"):
        if (SAMPLE / name).exists():
            shutil.copy(SAMPLE / name, dest / name)
    return subprocess.run([sys.executable, str(SCRIPT), str(dest)], capture_output=True, text=True)


def tree(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_migration_reproduces_the_committed_sources(tmp_path):
    proc = run_migration(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "_lru.c" in tree(MIGRATED)
    assert tree(tmp_path / "src" / "migrated") == tree(MIGRATED), \
        "sample_ext/src/migrated/ is stale: run `python scripts/migrate_sample.py` and commit the result"


def test_migrated_source_scans_clean(capsys):
    code = main(["scan", str(MIGRATED), "--no-config", "-j", "1"])
    out = capsys.readouterr().out
    assert code == 0, out


def test_legacy_source_has_findings(capsys):
    """The scan test above can fail: the same command on the legacy source reports hazards."""
    assert main(["scan", str(SAMPLE / "src" / "legacy"), "--no-config", "-j", "1"]) == 1
    assert "FT202" in capsys.readouterr().out


# ---- wheels and venvs --------------------------------------------------------------------------

_built: dict[str, tuple[Path, Path]] = {}


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def installed(python: str, workdir: Path) -> tuple[Path, Path]:
    """(the wheel built by `python -m pip wheel`, a fresh venv's python with it and pytest installed)."""
    key = os.path.realpath(python)
    if key not in _built:
        out = workdir / f"wheel-{len(_built)}"
        _run([python, "-m", "pip", "wheel", "--no-deps", "-q", "--disable-pip-version-check", "-w", str(out),
              str(SAMPLE)])
        (wheel,) = out.glob("ftsample-*.whl")
        venv = workdir / f"venv-{len(_built)}"
        _run([python, "-m", "venv", "--without-pip", str(venv)])
        vpy = venv / "bin" / "python"
        _run([python, "-m", "pip", "--python", str(vpy), "install", "-q", "--disable-pip-version-check",
              str(wheel), *TEST_DEPS])
        _built[key] = (wheel, vpy)
    return _built[key]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    if not (shutil.which("cc") or shutil.which("gcc")):
        pytest.skip("no C compiler to build the sample wheel")
    return tmp_path_factory.mktemp("sample-wheels")


def sample_tests(vpy: Path, cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run sample_ext/tests (or the given test args) with the venv's python, outside the source tree."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
    full_env.update(env or {})
    return subprocess.run([str(vpy), "-m", "pytest", "-p", "no:cacheprovider", *args],
                          capture_output=True, text=True, cwd=cwd, env=full_env)


def gil_pythons() -> list:
    """The running interpreter and every other discovered GIL CPython with headers (pythons.py)."""
    return [pytest.param(c.exe, id=c.id) for c in header_pythons() if not c.id.endswith("t")]


@pytest.mark.parametrize("python", gil_pythons())
def test_wheel_builds_and_passes_the_sample_tests(python, workdir):
    _, vpy = installed(python, workdir)
    proc = sample_tests(vpy, workdir, "-v", str(SAMPLE / "tests"))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    # both modules were built and tested: ftsample.legacy._lru and ftsample._lru from src/migrated/
    assert "[legacy] PASSED" in proc.stdout and "[migrated] PASSED" in proc.stdout


# ---- free-threaded -------------------------------------------------------------------------------

def verify(vpy: Path, modules: list[str], cwd: Path, monkeypatch, capsys) -> tuple[int, dict]:
    monkeypatch.chdir(cwd)
    code = main(["verify-import", *modules, "--python", str(vpy), "--format", "json"])
    return code, json.loads(capsys.readouterr().out)


def test_ft_legacy_module_turns_the_gil_back_on(ft_python, workdir, monkeypatch, capsys):
    _, vpy = installed(ft_python, workdir)
    code, doc = verify(vpy, ["ftsample.legacy._lru"], workdir, monkeypatch, capsys)
    assert code == 1 and doc["free_threaded_build"]
    (imp,) = doc["imports"]
    assert (imp["gil_before"], imp["gil_after"], imp["enabled_gil"]) == (False, True, True)
    assert imp["error"] is None and any("GIL" in w for w in imp["warnings"]), imp


def test_ft_migrated_module_keeps_the_gil_off(ft_python, workdir, monkeypatch, capsys):
    _, vpy = installed(ft_python, workdir)
    code, doc = verify(vpy, ["ftsample._lru"], workdir, monkeypatch, capsys)
    (imp,) = doc["imports"]
    assert (code, imp["error"], imp["gil_before"], imp["gil_after"], imp["warnings"]) == (0, None, False, False, [])
    # then the legacy module, imported after it, is the one that turns the GIL on
    code, doc = verify(vpy, ["ftsample._lru", "ftsample.legacy._lru"], workdir, monkeypatch, capsys)
    first, legacy = doc["imports"]
    assert code == 1 and (first["gil_after"], legacy["gil_before"], legacy["enabled_gil"]) == (False, False, True)
    assert any("ftsample.legacy._lru" in w for w in legacy["warnings"]), legacy["warnings"]


def test_ft_stress_tests_pass_on_the_migrated_module_without_the_gil(ft_python, workdir):
    _, vpy = installed(ft_python, workdir)
    tests = str(SAMPLE / "tests" / "test_stress.py")
    proc = sample_tests(vpy, workdir, "-q", tests, "-k", "migrated", env={"PYTHON_GIL": "0"})
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "skipped" not in proc.stdout
    proc = sample_tests(vpy, workdir, "-q", tests, "-k", "migrated", "--parallel-threads=4",
                        env={"PYTHON_GIL": "0"})
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_ft_wheel_passes_wheel_check_and_gil_wheels_alone_do_not(ft_python, workdir, capsys):
    ft_wheel, _ = installed(ft_python, workdir)
    assert "cp314t" in ft_wheel.name
    assert main(["wheel-check", str(ft_wheel)]) == 0
    assert "has free-threaded wheels" in capsys.readouterr().out
    gil_wheel, _ = installed(next(p.values[0] for p in gil_pythons()), workdir)
    if gil_wheel.name.split("-")[-2].endswith("t"):  # the ABI tag: cp314t
        pytest.skip("the running interpreter is free-threaded too: no GIL wheel here")
    gil_only = workdir / "gil-only"
    gil_only.mkdir(exist_ok=True)
    shutil.copy(gil_wheel, gil_only)
    assert main(["wheel-check", str(gil_only)]) == 1
    assert "NO free-threaded wheel" in capsys.readouterr().out
    both = workdir / "both"
    both.mkdir(exist_ok=True)
    shutil.copy(gil_wheel, both)
    shutil.copy(ft_wheel, both)
    assert main(["wheel-check", str(both)]) == 0
