"""The GitHub workflows a user can copy are valid and test what they claim to."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.name for p in WORKFLOWS])
def test_workflow_matches_github_schema(path):
    # check-jsonschema ships SchemaStore's github-workflow schema: no network needed
    proc = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                           "vendor.github-workflows", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ci_covers_every_supported_python_and_free_threading():
    """One Python per job; the 3.14t job gives the free-threaded tests their interpreter."""
    doc = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())
    pythons = doc["jobs"]["tests"]["strategy"]["matrix"]["python"]
    assert {"3.10", "3.11", "3.12", "3.13", "3.14", "3.14t"} <= set(pythons)
    test = next(s for s in doc["jobs"]["tests"]["steps"] if s.get("name") == "Test")
    assert test["run"] == "./scripts/test.sh"  # the README's test command, as .ci/run runs it
    ft = test["env"]["EXTMIGRATE_FT_PYTHON"]  # the free-threaded tests run in the 3.14t job only
    assert "endsWith(matrix.python, 't')" in ft and "steps.py.outputs.python-path" in ft
    assert test["env"]["PYTHON"] == "${{ steps.py.outputs.python-path }}"
    steps = doc["jobs"]["scan-sample"]["steps"]
    assert any(s.get("uses", "").startswith("github/codeql-action/upload-sarif") for s in steps)
    assert doc["jobs"]["scan-sample"]["permissions"]["security-events"] == "write"
