"""action.yml, the composite GitHub Action, run locally: each `run:` step with its env and the
`${{ }}` expressions resolved as a runner would, `uses:` steps checked instead of run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.test_reporters import _sarif_schema

REPO = Path(__file__).resolve().parents[1]
ACTION = yaml.safe_load((REPO / "action.yml").read_text())
SLOTS = """#include <Python.h>
static int exec_mod(PyObject *m) { return 0; }
static PyModuleDef_Slot slots[] = {{Py_mod_exec, exec_mod}, {0, NULL}};
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "m", NULL, 0, NULL, slots};
PyMODINIT_FUNC PyInit_m(void) { return PyModuleDef_Init(&def); }
"""
_EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


class Runner:
    """Runs the action's steps in a workspace as GitHub's runner does (bash -eo pipefail)."""

    def __init__(self, workspace: Path, temp: Path, inputs: dict[str, str]):
        unknown = set(inputs) - set(ACTION["inputs"])
        assert not unknown, unknown
        self.inputs = {k: str(v.get("default", "")) for k, v in ACTION["inputs"].items()} | inputs
        self.workspace, self.temp = workspace, temp
        self.outputs: dict[str, dict[str, str]] = {}
        self.log: list[tuple[str, int, str]] = []  # (step name, exit code, output)

    def value(self, expr: str) -> str:
        parts = expr.split(".")
        if parts[0] == "inputs":
            return self.inputs[parts[1]]
        assert parts[0] == "steps" and parts[2] == "outputs", expr
        return self.outputs.get(parts[1], {}).get(parts[3], "")

    def resolve(self, text: str) -> str:
        return _EXPR.sub(lambda m: self.value(m.group(1)), text)

    def condition(self, expr: str) -> bool:
        """`a == 'x' && b != 'y'`: the only form action.yml uses."""
        ok = True
        for clause in expr.split("&&"):
            m = re.fullmatch(r"\s*([\w.-]+)\s*(==|!=)\s*'([^']*)'\s*", clause)
            assert m, f"unsupported condition {expr!r}"
            ok &= (self.value(m.group(1)) == m.group(3)) == (m.group(2) == "==")
        return ok

    def run(self, skip: tuple[str, ...] = ()) -> None:
        failed = False
        for step in ACTION["runs"]["steps"]:
            if failed or step["name"] in skip or ("if" in step and not self.condition(step["if"])):
                continue
            if "uses" in step:
                self.log.append((step["name"], 0, json.dumps({k: self.resolve(str(v))
                                                              for k, v in step["with"].items()})))
                continue
            out_file = self.temp / f"output-{len(self.log)}"
            out_file.write_text("")
            env = dict(os.environ, GITHUB_ACTION_PATH=str(REPO), RUNNER_TEMP=str(self.temp),
                       GITHUB_OUTPUT=str(out_file), GITHUB_WORKSPACE=str(self.workspace),
                       XDG_CACHE_HOME=str(self.temp / "cache"),
                       **{k: self.resolve(str(v)) for k, v in step.get("env", {}).items()})
            assert step["shell"] == "bash"
            r = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                               cwd=self.workspace, env=env, capture_output=True, text=True, timeout=900)
            self.log.append((step["name"], r.returncode, r.stdout + r.stderr))
            if "id" in step:
                self.outputs[step["id"]] = dict(line.split("=", 1) for line in out_file.read_text().splitlines())
            failed = r.returncode != 0

    def step(self, name: str) -> tuple[int, str] | None:
        return next(((rc, out) for n, rc, out in self.log if n == name), None)


def test_action_matches_github_schema():
    # check-jsonschema ships SchemaStore's github-action schema: no network needed
    proc = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                           "vendor.github-actions", str(REPO / "action.yml")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_expression_names_a_declared_input_or_step_output():
    ids = {s.get("id") for s in ACTION["runs"]["steps"]}
    text = (REPO / "action.yml").read_text()
    for expr in _EXPR.findall(text) + [s["if"] for s in ACTION["runs"]["steps"] if "if" in s]:
        for name in re.findall(r"inputs\.([\w-]+)", expr):
            assert name in ACTION["inputs"], name
        for step, _out in re.findall(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expr):
            assert step in ids, step
    [upload] = [s for s in ACTION["runs"]["steps"] if "uses" in s]
    assert upload["uses"].startswith("github/codeql-action/upload-sarif@")
    assert ACTION["runs"]["using"] == "composite"


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """RUNNER_TEMP after the action's install step (one virtual environment for the module's tests)."""
    temp = tmp_path_factory.mktemp("runner-temp")
    runner = Runner(temp, temp, {})
    runner.run(skip=("Scan", "Upload SARIF to code scanning", "Fail on findings"))
    rc, out = runner.step("Install extmigrate")
    if rc != 0:
        pytest.skip(f"the action's install step could not install extmigrate here: {out.strip()[-400:]}")
    assert re.search(r"extmigrate \d", out), out
    return temp


def _workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    (ws / "my src").mkdir(parents=True)
    (ws / "my src" / "bad.c").write_text(SLOTS)
    (ws / "other.c").write_text(SLOTS)  # not among the paths: not scanned
    return ws


def test_findings_are_uploaded_and_fail_the_job(installed, tmp_path):
    runner = Runner(_workspace(tmp_path), installed,
                    {"paths": "'my src'", "args": "--no-config --select FT201", "sarif-file": "out/x.sarif"})
    (runner.workspace / "out").mkdir()
    runner.run(skip=("Install extmigrate",))
    assert runner.step("Scan")[0] == 0
    assert runner.outputs["scan"] == {"exit-code": "1", "findings": "1", "sarif-file": "out/x.sarif"}
    upload = json.loads(runner.step("Upload SARIF to code scanning")[1])
    assert upload == {"sarif_file": "out/x.sarif", "category": "extmigrate"}
    doc = json.loads((runner.workspace / upload["sarif_file"]).read_text())
    jsonschema.Draft4Validator(_sarif_schema()).validate(doc)
    [result] = doc["runs"][0]["results"]
    assert result["ruleId"] == "FT201"
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "my src/bad.c"
    rc, out = runner.step("Fail on findings")
    assert rc == 1 and "::error title=extmigrate::1 free-threading finding(s)" in out


def test_fail_on_findings_false_passes_and_upload_can_be_off(installed, tmp_path):
    runner = Runner(_workspace(tmp_path), installed,
                    {"paths": "'my src' other.c", "args": "--no-config", "fail-on-findings": "false",
                     "upload-sarif": "false"})
    runner.run(skip=("Install extmigrate",))
    assert runner.outputs["scan"]["findings"] == "2"
    assert runner.step("Upload SARIF to code scanning") is None
    assert runner.step("Fail on findings") == (0, "extmigrate: 2 finding(s)\n")
    assert (runner.workspace / "extmigrate.sarif").is_file()


def test_a_configuration_error_stops_the_job_at_the_scan(installed, tmp_path):
    runner = Runner(_workspace(tmp_path), installed, {"paths": "'my src'", "args": "--select FT999"})
    runner.run(skip=("Install extmigrate",))
    rc, out = runner.step("Scan")
    assert rc == 2 and "unknown rule code or name: FT999" in out
    assert runner.outputs["scan"]["exit-code"] == "2"
    assert runner.step("Upload SARIF to code scanning") is None and runner.step("Fail on findings") is None
