"""scripts/recall.py: which finding of a real scan names each labelled site."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "recall.py"

SOURCE = """\
#include <Python.h>

static long calls;

static PyObject *first_two(PyObject *self, PyObject *args) {
    PyObject *a, *b;
    if (!PyArg_ParseTuple(args, "OO", &a, &b)) return NULL;
    PyObject *x = PyList_GetItem(a, 0);
    PyObject *y = PyList_GetItem(b, 0);
    PyObject *t = PyTuple_GetItem(args, 0);
    if (x == NULL || y == NULL || t == NULL) return NULL;
    return PyTuple_Pack(3, x, y, t);
}

static PyObject *count(PyObject *self, PyObject *unused) {
    /* nothing here but a counter
       that every caller bumps */
    calls++;
    return PyLong_FromLong(calls);
}

static PyMethodDef methods[] = {
    {"first_two", first_two, METH_VARARGS, NULL},
    {"count", count, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {PyModuleDef_HEAD_INIT, "m", NULL, -1, methods};

PyMODINIT_FUNC PyInit_m(void) { return PyModule_Create(&moduledef); }
"""


def load_recall():
    spec = importlib.util.spec_from_file_location("recall_script", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def line_of(needle: str) -> int:
    return SOURCE[:SOURCE.index(needle)].count("\n") + 1


def site(line: int, category: str, function: str = "", **extra) -> dict:
    return {"path": "m.c", "line": line, "function": function, "category": category, **extra}


def test_each_site_is_named_by_its_own_finding(tmp_path):
    (tmp_path / "m.c").write_text(SOURCE)
    out = subprocess.run([sys.executable, "-m", "extmigrate", "scan", "--format", "json", "--no-config",
                          "--no-progress", "--no-cache", "m.c"], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 1, out.stderr
    findings = json.loads(out.stdout)["findings"]
    x, y, t = line_of("PyList_GetItem(a"), line_of("PyList_GetItem(b"), line_of("PyTuple_GetItem")
    write, decl = line_of("calls++"), line_of("static long calls")
    assert write - 9 - decl > 5  # so only the finding's related write location can reach the sites below
    sites = [
        site(x, "borrowed-ref", "first_two"),
        site(y, "borrowed-ref", "first_two"),
        site(t, "borrowed-ref", "first_two"),   # a tuple read: no finding of its own, and x's and y's are taken
        site(write, "static-state", "count"),   # named through the FT301 finding's related write
        site(write, "module-gil", "count"),     # right place, wrong category
        site(line_of("PyModule_Create"), "module-gil"),
        site(write - 9, "static-state"),                     # the write is 9 lines on: too far
        site(write - 9, "static-state", end_line=write),     # ... unless the changed block reaches it
    ]
    named = load_recall().match(sites, findings, tmp_path)
    got = [(f["code"], f["line"]) if f else None for f in named]
    assert got == [("FT101", x), ("FT101", y), None, ("FT301", decl), None,
                   ("FT202", line_of("PyMODINIT_FUNC")), None, ("FT301", decl)]


def test_every_pinned_package_has_labels_and_every_label_file_a_pin():
    recall = load_recall()
    pinned = {m.before.name for m in recall.RECALL}
    labelled = {p.stem for p in recall.LABELS.glob("*.toml")}
    assert pinned == labelled
    for m in recall.RECALL:
        assert m.before.name == m.after.name and m.before.version != m.after.version
        sites = recall.load_sites(m.before.name)  # exits on a site without path/line/category/change/rule
        assert sites, m.before.name
        assert all(s.get("end_line", s["line"]) >= s["line"] for s in sites), m.before.name
