"""FT109 borrowed-list-array on real C files: a list's ob_item read by hand."""

from __future__ import annotations

CODE = """
#include <Python.h>
typedef struct { PyObject_HEAD PyObject *items; } Bag;

static PyObject *first(PyObject *self, PyObject *list) {
    return Py_NewRef(((PyListObject *)list)->ob_item[0]);
}

static PyObject *field(Bag *self, PyObject *unused) {
    PyListObject *l = (PyListObject *)self->items;
    return Py_NewRef(l->ob_item[0]);
}

static PyObject *fresh(PyObject *self, PyObject *arg) {
    PyObject *l = PyList_New(1);
    if (l == NULL) return NULL;
    ((PyListObject *)l)->ob_item[0] = Py_NewRef(arg);
    return l;
}

static PyObject *tuple_items(PyObject *self, PyObject *t) {
    return Py_NewRef(((PyTupleObject *)t)->ob_item[0]);
}

static PyObject *by_macro(PyObject *self, PyObject *list) {
    return Py_NewRef(PyList_GET_ITEM(list, 0));
}

#define M(f, flags) {#f, (PyCFunction)(void (*)(void))f, flags, NULL}
static PyMethodDef methods[] = {
    M(first, METH_O), M(field, METH_NOARGS), M(fresh, METH_O), M(tuple_items, METH_O), M(by_macro, METH_O),
    {NULL}
};
"""


def test_direct_item_array_reads_of_shared_lists_only(scan_c):
    res = scan_c(CODE, select=["FT101", "FT109"]).findings
    assert [(f.code, f.function, f.symbol) for f in res] == [
        ("FT109", "first", "list->ob_item"),
        ("FT109", "field", "l->ob_item"),
        ("FT101", "by_macro", "PyList_GET_ITEM(list)"),
    ]
    first = res[0]
    line = CODE[:CODE.index("((PyListObject *)list)->ob_item")].count("\n") + 1
    col = CODE.splitlines()[line - 1].index("((PyListObject") + 1
    assert (first.line, first.column) == (line, col)  # inside Py_NewRef's argument, where it is written
    assert "Py_BEGIN_CRITICAL_SECTION(list)" in first.message
