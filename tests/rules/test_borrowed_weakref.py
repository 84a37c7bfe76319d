"""FT105 borrowed-weakref on real C files."""

from __future__ import annotations

import pytest

from tests.conftest import header_params

PYTHONS = header_params()

CODE = """
#include <Python.h>
typedef struct { PyObject_HEAD PyObject *ref; } Obj;

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
"""


@pytest.mark.parametrize("python", PYTHONS)
def test_every_dereferenced_referent_is_reported(scan_c, python):
    res = scan_c(CODE, select=["FT105"], headers=python).findings
    assert [(f.function, f.symbol) for f in res] == [
        ("target", "PyWeakref_GetObject(self->ref)"),
        # a weak reference never keeps its referent alive, even one this function created
        ("target_macro", "PyWeakref_GET_OBJECT(w)"),
    ]
    assert "PyWeakref_GetRef (3.13+" in res[0].message
    assert res[1].data["macro"] is True and res[1].data["result_use"] == "incref"
