"""FT107 borrowed-cell-get on real C files."""

from __future__ import annotations

import pytest

from tests.conftest import header_params

CODE = """
#include <Python.h>
typedef struct { PyObject_HEAD PyObject *cell; } Obj;

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

static PyObject *locked(Obj *self, PyObject *unused) {
    PyObject *v;
    Py_BEGIN_CRITICAL_SECTION(self->cell);
    v = Py_XNewRef(PyCell_GET(self->cell));
    Py_END_CRITICAL_SECTION();
    return v;
}
"""


@pytest.mark.parametrize("python", header_params((3, 13)))  # critical sections, PyMutex
def test_shared_cells_only(scan_c, python):
    res = scan_c(CODE, select=["FT107"], headers=python).findings
    assert [(f.function, f.symbol) for f in res] == [("cell_value", "PyCell_GET(self->cell)")]
    f = res[0]
    assert "PyCell_Get (every supported Python has it)" in f.message
    assert f.data["result_var"] == "v" and f.data["result_use"] == "incref"
