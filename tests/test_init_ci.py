"""`extmigrate init-ci` on real project folders: the config it writes, refusals, --force, validity."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from extmigrate.cli import main
from extmigrate.config import tomllib

ROOT = Path(__file__).resolve().parents[1]

PYPROJECT = """\
# A project that has no cibuildwheel config yet.
[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "fastthing"
version = "1.0"
requires-python = ">=3.11"  # no 3.10 wheels

[project.optional-dependencies]
test = ["pytest", "numpy"]

[tool.pytest.ini_options]
testpaths = ["tests"]
"""


def project(tmp_path: Path, text: str = PYPROJECT, sub: str = ".") -> Path:
    pkg = tmp_path / sub
    (pkg / "tests").mkdir(parents=True)
    (pkg / "pyproject.toml").write_bytes(text.encode())
    return pkg


def cibw_table(path: Path) -> dict:
    return tomllib.loads(path.read_text())["tool"]["cibuildwheel"]


def test_appends_table_and_writes_workflow(tmp_path, capsys):
    pkg = project(tmp_path)
    assert main(["init-ci", str(tmp_path)]) == 0
    text = (pkg / "pyproject.toml").read_text()
    assert text.startswith(PYPROJECT + "\n[tool.cibuildwheel]\n")  # appended, the file kept as it was
    table = cibw_table(pkg / "pyproject.toml")
    assert table["build"] == ["cp311-*", "cp312-*", "cp313-*", "cp314-*", "cp314t-*"]  # from requires-python
    assert table["test-extras"] == ["test"] and "pytest-run-parallel" in table["test-requires"]
    assert any("--parallel-threads=" in cmd and "{package}/tests" in cmd for cmd in table["test-command"])
    assert table["overrides"] == [{"select": "*t-*", "test-environment": {"PYTHON_GIL": "0"}}]
    wf = yaml.safe_load((tmp_path / ".github/workflows/wheels.yml").read_text())
    step = next(s for s in wf["jobs"]["build_wheels"]["steps"] if s.get("uses", "").startswith("pypa/cibuildwheel@"))
    assert step["with"]["package-dir"] == "."
    out = capsys.readouterr().out
    assert "appended [tool.cibuildwheel]" in out and "wheels.yml: written" in out


def test_rerun_refuses_and_changes_nothing(tmp_path, capsys):
    pkg = project(tmp_path)
    assert main(["init-ci", str(tmp_path)]) == 0
    before = (pkg / "pyproject.toml").read_bytes(), (tmp_path / ".github/workflows/wheels.yml").read_bytes()
    capsys.readouterr()
    assert main(["init-ci", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "[tool.cibuildwheel] exists" in err and "wheels.yml: exists" in err and "--force" in err
    assert before == ((pkg / "pyproject.toml").read_bytes(), (tmp_path / ".github/workflows/wheels.yml").read_bytes())


def test_existing_workflow_alone_blocks_everything(tmp_path):
    pkg = project(tmp_path)
    wf = tmp_path / ".github/workflows/wheels.yml"
    wf.parent.mkdir(parents=True)
    wf.write_text("name: mine\n")
    assert main(["init-ci", str(tmp_path)]) == 1
    assert wf.read_text() == "name: mine\n" and (pkg / "pyproject.toml").read_text() == PYPROJECT


def test_force_replaces_only_the_cibuildwheel_tables(tmp_path, capsys):
    user = PYPROJECT.replace("[tool.pytest.ini_options]", """\
# old wheel settings
[tool.cibuildwheel]
build = ["cp312-*"]
environment = { FOO = "1" }

[tool.cibuildwheel.linux]
archs = ["aarch64"]

[[tool.cibuildwheel.overrides]]
select = "cp312-*"
test-command = "true"

# pytest settings stay
[tool.pytest.ini_options]""")
    pkg = project(tmp_path, user)
    wf = tmp_path / ".github/workflows/wheels.yml"
    wf.parent.mkdir(parents=True)
    wf.write_text("name: mine\n")
    assert main(["init-ci", str(tmp_path), "--force"]) == 0
    out = capsys.readouterr().out
    assert "replaced [tool.cibuildwheel] (old lines 14-17, 19-20, 22-24)" in out and "wheels.yml: replaced" in out
    text = (pkg / "pyproject.toml").read_text()
    assert "old wheel settings" not in text and "aarch64" not in text and "FOO" not in text
    assert text.startswith(PYPROJECT.split("[tool.pytest")[0])  # everything before is untouched
    assert text.endswith('\n\n# pytest settings stay\n[tool.pytest.ini_options]\ntestpaths = ["tests"]\n')
    fresh = tmp_path / "fresh"
    project(fresh)
    assert main(["init-ci", str(fresh)]) == 0
    assert cibw_table(pkg / "pyproject.toml") == cibw_table(fresh / "pyproject.toml")
    assert wf.read_bytes() == (fresh / ".github/workflows/wheels.yml").read_bytes()
    assert main(["init-ci", str(tmp_path), "--force"]) == 0  # and again: the same file
    assert (pkg / "pyproject.toml").read_text() == text


def test_force_refuses_a_table_it_cannot_replace_safely(tmp_path, capsys):
    user = PYPROJECT + '\n[tool]\ncibuildwheel.build = ["cp312-*"]\n'
    pkg = project(tmp_path, user)
    assert main(["init-ci", str(tmp_path), "--force"]) == 2
    assert "cannot replace" in capsys.readouterr().err
    assert (pkg / "pyproject.toml").read_text() == user
    assert not (tmp_path / ".github").exists()


def test_crlf_file_stays_crlf(tmp_path):
    pkg = project(tmp_path, PYPROJECT.replace("\n", "\r\n"))
    assert main(["init-ci", str(tmp_path)]) == 0
    raw = (pkg / "pyproject.toml").read_bytes()
    assert raw.count(b"\n") == raw.count(b"\r\n") and b"[tool.cibuildwheel]\r\n" in raw


def test_package_dir_and_usage_errors(tmp_path, capsys):
    assert main(["init-ci", str(tmp_path)]) == 2
    assert "pyproject.toml: not found" in capsys.readouterr().err
    assert main(["init-ci", str(tmp_path), "--package-dir", "../elsewhere"]) == 2
    assert "inside PROJECT_DIR" in capsys.readouterr().err
    (tmp_path / "pyproject.toml").write_text("[project\n")
    assert main(["init-ci", str(tmp_path)]) == 2
    assert "invalid TOML" in capsys.readouterr().err
    project(tmp_path, sub="pkg")
    (tmp_path / "pkg" / "tests").rename(tmp_path / "pkg" / "test")
    assert main(["init-ci", str(tmp_path), "--package-dir", "pkg"]) == 0
    assert cibw_table(tmp_path / "pkg/pyproject.toml")["test-command"][0] == "pytest -q {package}/test"
    wf = yaml.safe_load((tmp_path / ".github/workflows/wheels.yml").read_text())
    on = wf[True]  # PyYAML reads the `on:` key as a boolean
    assert on["push"]["paths"] == ["pkg/**", ".github/workflows/wheels.yml"]
    steps = wf["jobs"]["build_wheels"]["steps"]
    assert next(s for s in steps if "with" in s and "package-dir" in s["with"])["with"]["package-dir"] == "pkg"


@pytest.mark.parametrize("sub", [".", "pkg"])
def test_rendered_workflow_matches_github_schema(tmp_path, sub):
    project(tmp_path, sub=sub)
    assert main(["init-ci", str(tmp_path), "--package-dir", sub]) == 0
    proc = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                           "vendor.github-workflows", str(tmp_path / ".github/workflows/wheels.yml")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_verify_job_is_added_on_request_and_valid(tmp_path):
    project(tmp_path, sub="pkg")
    assert main(["init-ci", str(tmp_path), "--package-dir", "pkg", "--verify"]) == 0
    path = tmp_path / ".github/workflows/wheels.yml"
    proc = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                           "vendor.github-workflows", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    steps = yaml.safe_load(path.read_text())["jobs"]["verify"]["steps"]
    ft = next(s for s in steps if s.get("id") == "ft")
    assert ft["with"]["python-version"] == "3.14t"
    run = steps[-1]["run"]
    assert run.startswith('extmigrate verify pkg --python "${{ steps.ft.outputs.python-path }}" --threads 4')
    assert "github.event.pull_request.base.sha" in run
    assert main(["init-ci", str(project(tmp_path / "plain")), "--force"]) == 0
    assert "verify" not in yaml.safe_load((tmp_path / "plain/.github/workflows/wheels.yml").read_text())["jobs"]


def test_cibuildwheel_selects_free_threaded_builds(tmp_path):
    if importlib.util.find_spec("cibuildwheel") is None:
        pytest.skip("cibuildwheel is not installed (it needs Python 3.11+)")
    pkg = project(tmp_path)
    assert main(["init-ci", str(tmp_path)]) == 0
    proc = subprocess.run([sys.executable, "-m", "cibuildwheel", "--print-build-identifiers", "--platform",
                           "linux", str(pkg)], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    ids = set(proc.stdout.split())
    assert "cp314t-manylinux_x86_64" in ids and "cp311-manylinux_x86_64" in ids
    assert not any(i.startswith("cp310-") for i in ids)  # requires-python >= 3.11


def test_committed_sample_config_is_what_init_ci_renders(tmp_path):
    """sample_ext's [tool.cibuildwheel] and the repo's wheels.yml come from `init-ci --package-dir sample_ext`."""
    shutil.copytree(ROOT / "sample_ext", tmp_path / "sample_ext",
                    ignore=shutil.ignore_patterns("build", ".pytest_cache", "src"))
    committed = ROOT / ".github/workflows/wheels.yml"
    (tmp_path / ".github/workflows").mkdir(parents=True)
    shutil.copy(committed, tmp_path / ".github/workflows/wheels.yml")
    assert main(["init-ci", str(tmp_path), "--package-dir", "sample_ext", "--force"]) == 0
    assert (tmp_path / "sample_ext/pyproject.toml").read_bytes() == (ROOT / "sample_ext/pyproject.toml").read_bytes()
    assert (tmp_path / ".github/workflows/wheels.yml").read_bytes() == committed.read_bytes()
