"""FT402 alloc-object-outside-object-domain on real C files, with every discovered Python's headers."""

from __future__ import annotations

import pytest

from tests.conftest import header_params

PYTHONS = header_params()

CODE = """
#include <Python.h>
#include <stdlib.h>

typedef struct { PyObject_HEAD char *buf; } Obj;
typedef struct { PyObject_VAR_HEAD int x; } VarObj;
typedef struct { Obj base; int y; } Derived;
typedef struct { int a; } Plain;

static PyObject *make(PyTypeObject *type) {
    Obj *o = (Obj *)PyMem_Malloc(sizeof(Obj));
    VarObj *v = malloc(sizeof(VarObj));
    Derived *d = PyMem_New(Derived, 1);
    void *raw = PyMem_RawMalloc(type->tp_basicsize);
    PyObject_Init((PyObject *)raw, type);
    PyObject *bare = PyMem_Calloc(1, 32);
    /* not objects */
    PyObject **items = PyMem_Malloc(10 * sizeof(PyObject *));
    Plain *pl = malloc(sizeof(Plain));
    char *text = PyMem_Malloc(10);
    Py_buffer *view = PyMem_Malloc(sizeof(Py_buffer));
    void *scratch = PyMem_Malloc(64);
    /* objects from the object domain */
    Obj *good = PyObject_New(Obj, type);
    Obj *custom = (Obj *)PyObject_Malloc(sizeof(Obj));
    return (PyObject *)o;
}
"""


@pytest.mark.parametrize("python", PYTHONS)
def test_objects_outside_the_object_domain(scan_c, python):
    res = scan_c(CODE, select=["FT402"], headers=python)
    assert res.findings, res.diagnostics
    text = open(res.findings[0].path).read().splitlines()
    line = lambda site: text[site.line - 1].strip()  # noqa: E731
    found = sorted((line(f), f.symbol, f.data["call"], f.data["replacement"]) for f in res.findings)
    assert found == sorted([
        ("Obj *o = (Obj *)PyMem_Malloc(sizeof(Obj));", "o", "PyMem_Malloc", "PyObject_Malloc"),
        ("VarObj *v = malloc(sizeof(VarObj));", "v", "malloc", "PyObject_Malloc"),
        ("Derived *d = PyMem_New(Derived, 1);", "d", "PyMem_New", "PyObject_Malloc"),
        ("void *raw = PyMem_RawMalloc(type->tp_basicsize);", "raw", "PyMem_RawMalloc", "PyObject_Malloc"),
        ("PyObject *bare = PyMem_Calloc(1, 32);", "bare", "PyMem_Calloc", "PyObject_Calloc"),
    ])
    assert all(f.severity == "error" for f in res.findings)


def test_memory_passed_straight_to_object_init(scan_c):
    code = """
    #include <Python.h>
    static PyObject *make(PyTypeObject *t) {
        return PyObject_Init(PyMem_Malloc(t->tp_basicsize), t);
    }
    static PyObject *fine(PyTypeObject *t) {
        return PyObject_Init(PyObject_Malloc(t->tp_basicsize), t);
    }
    """
    res = scan_c(code, select=["FT402"])
    assert [(f.function, f.data["call"], f.data["target_kind"]) for f in res.findings] == [
        ("make", "PyMem_Malloc", "arg")]


def test_code_free_threaded_builds_never_compile_is_not_reported(scan_c):
    code = """
    #include <Python.h>
    typedef struct { PyObject_HEAD int x; } Obj;
    static PyObject *make(PyTypeObject *t) {
    #ifndef Py_GIL_DISABLED
        Obj *old = (Obj *)PyMem_Malloc(sizeof(Obj));      /* GIL builds only */
    #else
        Obj *old = (Obj *)PyObject_Malloc(sizeof(Obj));
    #endif
    #if PY_VERSION_HEX < 0x030D0000
        Obj *older = (Obj *)malloc(sizeof(Obj));
    #endif
        Obj *now = (Obj *)PyMem_Malloc(sizeof(Obj));
        return PyObject_Init((PyObject *)old, t);
    }
    """
    res = scan_c(code, select=["FT402"])
    assert [f.symbol for f in res.findings] == ["now"]
