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
    doc = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())
    pythons = doc["jobs"]["tests"]["strategy"]["matrix"]["python"]
    assert {"3.10", "3.11", "3.12", "3.13", "3.14", "3.14t"} <= set(pythons)
    steps = doc["jobs"]["scan-sample"]["steps"]
    assert any(s.get("uses", "").startswith("github/codeql-action/upload-sarif") for s in steps)
    assert doc["jobs"]["scan-sample"]["permissions"]["security-events"] == "write"
