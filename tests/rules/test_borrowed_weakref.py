"""FT105 borrowed-weakref, FT106 borrowed-import-module and FT107 borrowed-cell-get on real C."""

from __future__ import annotations

import os

import pytest

PY313 = "/root/.pyenv/versions/3.13.0/bin/python"
PYTHONS = [None] + ([PY313] if os.path.exists(PY313) else [])

CODE = """
#include <Python.h>
typedef struct { PyObject_HEAD PyObject *ref; PyObject *cell; } Obj;

static PyObject *target(Obj *self, PyObject *unused) {
    PyObject *obj = PyWeakref_GetObject(self->ref);
    if (obj == Py_None) Py_RETURN_NONE;
    return PyObject_Repr(obj);
}

static PyObject *target_macro(Obj *self, PyObject *unused) {
    PyObject *w = PyWeakref_NewRef((PyObject *)self, NULL);
    PyObject *obj = PyWeakref_GET_OBJECT(w);
    Py_INCREF(obj);
    Py_DECREF(w);
    return obj;
}

static int alive(Obj *self) {
    return PyWeakref_GetObject(self->ref) != Py_None;
}

static PyObject *target_compat(Obj *self, PyObject *unused) {
    PyObject *obj;
#if PY_VERSION_HEX >= 0x030D0000
    if (PyWeakref_GetRef(self->ref, &obj) < 0) return NULL;
#else
    obj = Py_NewRef(PyWeakref_GetObject(self->ref));
#endif
    return obj;
}

static PyObject *globals_of_main(PyObject *self, PyObject *unused) {
    PyObject *main = PyImport_AddModule("__main__");
    if (main == NULL) return NULL;
    return Py_NewRef(PyModule_GetDict(main));
}

static PyObject *add_by_name(PyObject *self, PyObject *name) {
    return Py_XNewRef(PyImport_AddModuleObject(name));
}

static PyObject *cell_value(Obj *self, PyObject *unused) {
    PyObject *v = PyCell_GET(self->cell);
    return Py_XNewRef(v);
}

static PyObject *own_cell(PyObject *self, PyObject *arg) {
    PyObject *c = PyCell_New(arg);
    PyObject *v = Py_XNewRef(PyCell_GET(c));
    Py_DECREF(c);
    return v;
}
"""


@pytest.mark.parametrize("python", PYTHONS)
def test_weakref_module_and_cell_borrowers(scan_c, python):
    res = scan_c(CODE, select=["FT105", "FT106", "FT107"], python=python).findings
    got = [(f.code, f.function, f.symbol) for f in res]
    assert got == [
        ("FT105", "target", "PyWeakref_GetObject(self->ref)"),
        # a weak reference never keeps its referent alive, even one this function created
        ("FT105", "target_macro", "PyWeakref_GET_OBJECT(w)"),
        ("FT106", "globals_of_main", 'PyImport_AddModule("__main__")'),
        ("FT106", "add_by_name", "PyImport_AddModuleObject(name)"),
        ("FT107", "cell_value", "PyCell_GET(self->cell)"),
    ]
    by_code = {f.code: f for f in res}
    assert "PyWeakref_GetRef (3.13+" in by_code["FT105"].message
    assert "PyImport_AddModuleRef" in by_code["FT106"].message
    assert "sys.modules" in by_code["FT106"].message
    assert "PyCell_Get (every supported Python has it)" in by_code["FT107"].message
    assert by_code["FT107"].data["result_var"] == "v" and by_code["FT107"].data["result_use"] == "incref"
