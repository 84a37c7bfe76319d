"""FT515 torn-state-read on real C through a real scan (more cases: tests/fixtures/torn_state_read/)."""

from __future__ import annotations

TYPES = """
#include <Python.h>
typedef struct { PyObject_HEAD Py_ssize_t lo, hi; } RangeObject;
typedef struct { PyObject_HEAD Py_ssize_t lo, hi; } SpanObject;
"""

WRITER = TYPES + """
PyObject *range_set(RangeObject *self, PyObject *args) {
    Py_ssize_t lo, hi;
    if (!PyArg_ParseTuple(args, "nn", &lo, &hi)) return NULL;
    self->lo = lo;
    self->hi = hi;
    Py_RETURN_NONE;
}
"""

READER = TYPES + """
PyObject *range_set(RangeObject *self, PyObject *args);
static PyObject *range_width(RangeObject *self, PyObject *unused) {
    return PyLong_FromSsize_t(self->hi - self->lo);
}
static PyObject *span_width(SpanObject *self, PyObject *unused) {
    return PyLong_FromSsize_t(self->hi - self->lo);
}
static PyMethodDef range_methods[] = {
    {"set", (PyCFunction)range_set, METH_VARARGS, NULL},
    {"width", (PyCFunction)range_width, METH_NOARGS, NULL},
    {NULL}
};
static PyMethodDef span_methods[] = {{"width", (PyCFunction)span_width, METH_NOARGS, NULL}, {NULL}};
static PyType_Slot range_slots[] = {{Py_tp_methods, range_methods}, {0, NULL}};
static PyType_Slot span_slots[] = {{Py_tp_methods, span_methods}, {0, NULL}};
"""


def test_reader_and_writer_in_different_files(scan_c):
    res = scan_c({"set.c": WRITER, "width.c": READER}, select=["FT515"])
    assert [(f.symbol, f.line) for f in res.findings] == [("range_width", 8)]
    f = res.findings[0]
    assert f.path.endswith("width.c") and f.data["fields"] == ["hi", "lo"]
    assert f.data["writers"] == ["range_set"]
    # the writer's two stores are the related locations, in the other file
    assert [(s.path.rsplit("/", 1)[-1], s.line) for s in f.related] == [("set.c", 9), ("set.c", 10)]
    # span_width reads fields named alike of another type that nothing writes: not mixed up
    assert "span_width" not in {x.symbol for x in res.findings}


def test_json_lists_the_writers(scan_c, tmp_path):
    import json

    from extmigrate.reporters.json_report import render

    res = scan_c({"set.c": WRITER, "width.c": READER}, select=["FT515"])
    doc = json.loads(render(res))
    (f,) = doc["findings"]
    assert f["code"] == "FT515" and [r["line"] for r in f["related"]] == [9, 10]
    assert "range_set writes self->lo" in f["related"][0]["note"]


def test_a_writer_that_is_also_the_reader_is_left_to_ft510(scan_c):
    code = TYPES + """
static PyObject *range_swap(RangeObject *self, PyObject *unused) {
    Py_ssize_t t = self->lo;
    self->lo = self->hi;
    self->hi = t;
    Py_RETURN_NONE;
}
static PyMethodDef range_methods[] = {{"swap", (PyCFunction)range_swap, METH_NOARGS, NULL}, {NULL}};
static PyType_Slot range_slots[] = {{Py_tp_methods, range_methods}, {0, NULL}};
"""
    res = scan_c(code, select=["FT510", "FT515"])
    assert [(f.code, f.symbol) for f in res.findings] == [("FT510", "range_swap")]


def test_many_readers_of_one_writer_are_one_finding_at_the_writer(scan_c):
    readers = ["width", "mid", "contains", "bounds"]
    code = TYPES + """
static PyObject *range_set(RangeObject *self, PyObject *args) {
    Py_ssize_t lo, hi;
    if (!PyArg_ParseTuple(args, "nn", &lo, &hi)) return NULL;
    self->lo = lo;
    self->hi = hi;
    Py_RETURN_NONE;
}
""" + "".join(f"""
static PyObject *range_{r}(RangeObject *self, PyObject *unused) {{
    return Py_BuildValue("nn", self->lo, self->hi);  /* READ_{r} */
}}""" for r in readers) + """
static PyMethodDef range_methods[] = {
    {"set", (PyCFunction)range_set, METH_VARARGS, NULL},
""" + "".join(f'    {{"{r}", (PyCFunction)range_{r}, METH_NOARGS, NULL}},\n' for r in readers) + """    {NULL}
};
static PyType_Slot range_slots[] = {{Py_tp_methods, range_methods}, {0, NULL}};
"""
    (f,) = scan_c(code, select=["FT515"]).findings
    assert (f.symbol, f.line, f.function) == ("range_set", 9, "range_set")
    assert "4 methods exposed to Python read them" in f.message
    assert [s.symbol for s in f.sites] == [f"range_{r}" for r in readers]
    assert [r.line for r in f.related][:2] == [9, 10]
    # a suppression at one reader drops that site only
    quiet = code.replace("/* READ_mid */", "/* READ_mid extmigrate: ignore[FT515] */")
    (f,) = scan_c(quiet, select=["FT515"]).findings
    assert [s.symbol for s in f.sites] == ["range_width", "range_contains", "range_bounds"]
