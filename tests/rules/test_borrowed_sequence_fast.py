"""FT108 borrowed-sequence-fast on real C files."""

from __future__ import annotations

import pytest

from tests.conftest import header_params

CODE = """
#include <Python.h>

static double sum_arg(PyObject *self, PyObject *arg) {
    double total = 0;
    PyObject *seq = PySequence_Fast(arg, "expected a sequence");
    if (seq == NULL) return -1;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++)
        total += PyFloat_AsDouble(PySequence_Fast_GET_ITEM(seq, i));
    Py_DECREF(seq);
    return total;
}

static PyObject *items_arg(PyObject *self, PyObject *arg) {
    PyObject **items = PySequence_Fast_ITEMS(arg);
    return Py_NewRef(items[0]);
}

static PyObject *varargs(PyObject *self, PyObject *args) {
    return Py_NewRef(PySequence_Fast_GET_ITEM(args, 0));
}

static PyObject *as_tuple(PyObject *self, PyObject *arg) {
    PyObject *t = PySequence_Tuple(arg);
    if (t == NULL) return NULL;
    PyObject *fast = PySequence_Fast(t, "");
    PyObject *r = Py_NewRef(PySequence_Fast_GET_ITEM(fast, 0));
    Py_DECREF(fast);
    Py_DECREF(t);
    return r;
}

static PyObject *checked(PyObject *self, PyObject *arg) {
    if (!PyTuple_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "tuple expected");
        return NULL;
    }
    return Py_NewRef(PySequence_Fast_GET_ITEM(arg, 0));
}

static PyObject *checked_branch(PyObject *self, PyObject *arg) {
    if (PyTuple_CheckExact(arg))
        return Py_NewRef(PySequence_Fast_GET_ITEM(arg, 0));
    if (PyList_Check(arg) || PyTuple_Check(arg))
        return Py_NewRef(PySequence_Fast_GET_ITEM(arg, 1));
    return NULL;
}

static PyObject *own_list(PyObject *self, PyObject *arg) {
    PyObject *fast = PySequence_Fast(PySequence_List(arg), "");
    PyObject *r = Py_NewRef(PySequence_Fast_GET_ITEM(fast, 0));
    Py_DECREF(fast);
    return r;
}

static PyObject *locked(PyObject *self, PyObject *arg) {
    PyObject *seq = PySequence_Fast(arg, ""), *r;
    Py_BEGIN_CRITICAL_SECTION(seq);
    r = Py_NewRef(PySequence_Fast_GET_ITEM(seq, 0));
    Py_END_CRITICAL_SECTION();
    Py_DECREF(seq);
    return r;
}

#define M(f, flags) {#f, (PyCFunction)(void (*)(void))f, flags, NULL}
static PyMethodDef methods[] = {
    M(sum_arg, METH_O), M(items_arg, METH_O), M(varargs, METH_VARARGS), M(as_tuple, METH_O),
    M(checked, METH_O), M(checked_branch, METH_O), M(own_list, METH_O), M(locked, METH_O),
    {NULL}
};
"""


@pytest.mark.parametrize("python", header_params((3, 13)))  # critical sections, PyMutex
def test_fast_items_of_maybe_shared_lists_only(scan_c, python):
    res = [f for f in scan_c(CODE, select=["FT108"], headers=python).findings if f.code == "FT108"]
    assert [(f.function, f.symbol) for f in res] == [
        ("sum_arg", "PySequence_Fast_GET_ITEM(seq)"),
        ("items_arg", "PySequence_Fast_ITEMS(arg)"),
        ("checked_branch", "PySequence_Fast_GET_ITEM(arg)"),
    ]
    assert res[2].line == CODE[:CODE.index("PySequence_Fast_GET_ITEM(arg, 1)")].count("\n") + 1
    assert "Py_BEGIN_CRITICAL_SECTION(seq)" in res[0].message and "PySequence_Tuple" in res[0].message
    assert res[0].data["loop"] is not None


def test_vectorcall_kwnames_is_a_tuple_but_a_fastcall_argument_is_not(scan_c):
    res = scan_c("""
    #include <Python.h>
    static PyObject *f(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *names) {
        PyObject *first_name = names ? PySequence_Fast_GET_ITEM(names, 0) : NULL;
        PyObject *seq = PySequence_Fast(args[0], "");
        PyObject *x = PySequence_Fast_GET_ITEM(seq, 0);
        Py_DECREF(seq);
        return Py_BuildValue("OO", first_name, x);
    }
    static PyMethodDef methods[] = {
        {"f", (PyCFunction)(void(*)(void))f, METH_FASTCALL | METH_KEYWORDS, NULL}, {NULL}
    };
    """, select=["FT108"]).findings
    assert [f.symbol for f in res] == ["PySequence_Fast_GET_ITEM(seq)"]
