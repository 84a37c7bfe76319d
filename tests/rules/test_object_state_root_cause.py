"""FT510 root causes: many methods that race only through one shared helper are one finding at the
helper, each method's call still addressable (JSON `sites`, suppressions, baselines)."""

from __future__ import annotations

import json

from extmigrate.reporters.json_report import render
from extmigrate.suppress import write_baseline

METHODS = ["get", "has", "size", "keys", "values", "items", "clear_cache"]

CODE = """
#include <Python.h>
typedef struct { PyObject_HEAD PyObject *index; int built; } TableObject;

static int ensure_index(TableObject *self) {
    if (self->built)
        return 0;
    self->index = PyDict_New();
    if (self->index == NULL)
        return -1;
    self->built = 1;
    return 0;
}
""" + "".join(f"""
static PyObject *t_{m}(TableObject *self, PyObject *arg) {{
    if (ensure_index(self) < 0)  /* MARK_{m} */
        return NULL;
    return PyDict_Copy(self->index);
}}""" for m in METHODS) + """
static PyMethodDef t_methods[] = {
""" + "".join(f'    {{"{m}", (PyCFunction)t_{m}, METH_O, NULL}},\n' for m in METHODS) + """    {NULL}
};
static PyType_Slot t_slots[] = {{Py_tp_methods, t_methods}, {0, NULL}};
"""


def site_line(m: str) -> int:
    return next(i for i, text in enumerate(CODE.splitlines(), 1) if f"MARK_{m} " in text)


def test_one_finding_at_the_helper_with_every_call_as_a_site(scan_c):
    res = scan_c(CODE, select=["FT510"])
    (f,) = res.findings
    assert (f.symbol, f.line) == ("ensure_index", 8)
    assert "7 methods exposed to Python call it" in f.message
    assert [(s.symbol, s.line) for s in f.sites] == [(f"t_{m}", site_line(m)) for m in METHODS]
    # related: the helper's two writes, then the first five calls, the last saying how many more
    assert [r.line for r in f.related] == [8, 11] + [site_line(m) for m in METHODS[:5]]
    assert f.related[-1].note.endswith("(and 2 more)")
    doc = json.loads(render(res))
    assert [s["function"] for s in doc["findings"][0]["sites"]] == [f"t_{m}" for m in METHODS]


def test_two_callers_stay_two_findings(scan_c):
    code = CODE
    for m in METHODS[2:]:
        code = code.replace(f"ensure_index(self) < 0)  /* MARK_{m} */", f"0)  /* MARK_{m} */")
    res = scan_c(code, select=["FT510"])
    assert sorted(f.symbol for f in res.findings) == ["t_get", "t_has"]
    assert all(not f.sites for f in res.findings)


def test_suppression_at_a_site_drops_it_and_at_the_cause_drops_all(scan_c):
    code = CODE.replace("/* MARK_keys */", "/* MARK_keys extmigrate: ignore[FT510] */")
    (f,) = scan_c(code, select=["FT510"]).findings
    assert "t_keys" not in [s.symbol for s in f.sites] and len(f.sites) == 6
    assert f.message.endswith("(1 of these places suppressed or baselined)")
    assert site_line("keys") not in [r.line for r in f.related]
    code = CODE.replace("    self->index = PyDict_New();", "    self->index = PyDict_New();  // extmigrate: ignore[FT510]")
    res = scan_c(code, select=["FT510"])
    assert res.findings == [] and res.suppressed == 1


def test_baselines_by_the_cause_and_by_the_old_per_method_keys(scan_c, tmp_path):
    res = scan_c(CODE, select=["FT510"])
    write_baseline(str(tmp_path / "cause.json"), res.findings, str(tmp_path))
    again = scan_c(CODE, select=["FT510"], baseline=str(tmp_path / "cause.json"))
    assert again.findings == [] and again.baselined == 1
    # a baseline written when each method was its own finding (key CODE:path:function:symbol)
    keys = [f"FT510:mod.c:t_{m}:t_{m}" for m in METHODS[:-1]]
    (tmp_path / "old.json").write_text(json.dumps(
        {"version": 1, "tool": "extmigrate", "findings": [{"key": k, "count": 1} for k in keys]}))
    left = scan_c(CODE, select=["FT510"], baseline=str(tmp_path / "old.json"))
    (f,) = left.findings
    assert [s.symbol for s in f.sites] == ["t_clear_cache"]
    keys.append("FT510:mod.c:t_clear_cache:t_clear_cache")
    (tmp_path / "old.json").write_text(json.dumps(
        {"version": 1, "tool": "extmigrate", "findings": [{"key": k, "count": 1} for k in keys]}))
    gone = scan_c(CODE, select=["FT510"], baseline=str(tmp_path / "old.json"))
    assert gone.findings == [] and gone.baselined == 1
