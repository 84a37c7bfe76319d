"""FT401 alloc-object-domain-buffer on real C files, with every discovered Python's headers."""

from __future__ import annotations

import pytest

from tests.conftest import header_params

PYTHONS = header_params()

CODE = """
#include <Python.h>

typedef struct { PyObject_HEAD char *buf; double *vals; PyObject **items; } Obj;
typedef struct { PyObject ob_base; int x; } Headed;
typedef struct { Obj base; int y; } Derived;
typedef struct { int a; double b; } Plain;

static char *make_text(size_t n) { return PyObject_Malloc(n); }
static void *make_any(size_t n) { return PyObject_Malloc(n); }

static PyObject *custom_alloc(PyTypeObject *type, Py_ssize_t n) {
    PyObject *o = (PyObject *)PyObject_Malloc(type->tp_basicsize);
    Headed *h = PyObject_MALLOC(sizeof(Headed));
    Derived *d = PyObject_Calloc(1, sizeof(Derived));
    char *mem = PyObject_Malloc(64);
    PyObject_Init((PyObject *)mem, type);
    return o;
}

static void fill(Obj *self, size_t n) {
    self->buf = PyObject_Malloc(n);
    self->vals = (double *)PyObject_Calloc(n, sizeof(double));
    self->items = PyObject_Realloc(self->items, n * sizeof(PyObject *));
    Plain *p = PyObject_MALLOC(sizeof(Plain));
    char *fine = PyMem_Malloc(n);
    PyObject_Free(p);
    PyMem_Free(fine);
}
"""


@pytest.mark.parametrize("python", PYTHONS)
def test_buffers_in_the_object_domain(scan_c, python):
    res = scan_c(CODE, select=["FT401"], headers=python)
    assert res.findings, res.diagnostics
    text = open(res.findings[0].path).read().splitlines()
    line = lambda site: text[site.line - 1].strip()  # noqa: E731
    found = sorted((line(f), f.symbol, f.data["call"], f.data["replacement"]) for f in res.findings)
    assert found == sorted([
        # returned as char *
        ("static char *make_text(size_t n) { return PyObject_Malloc(n); }", "PyObject_Malloc", "PyObject_Malloc", "PyMem_Malloc"),
        ("self->buf = PyObject_Malloc(n);", "buf", "PyObject_Malloc", "PyMem_Malloc"),
        ("self->vals = (double *)PyObject_Calloc(n, sizeof(double));", "vals", "PyObject_Calloc", "PyMem_Calloc"),
        # an array of pointers is a buffer
        ("self->items = PyObject_Realloc(self->items, n * sizeof(PyObject *));", "items", "PyObject_Realloc", "PyMem_Realloc"),
        # the macro is reported as written
        ("Plain *p = PyObject_MALLOC(sizeof(Plain));", "p", "PyObject_MALLOC", "PyMem_Malloc"),
    ])
    assert {f.code for f in res.findings} == {"FT401"}


def test_fix_data_points_at_the_call(scan_c):
    res = scan_c(CODE, select=["FT401"])
    assert len(res.findings) == 5
    for f in res.findings:
        d = f.data
        assert d["call_written"] is True
        with open(f.path, "rb") as fh:
            raw = fh.read().decode()
        assert raw[d["call_start"]:d["call_end"]] == d["call"]
        assert d["replacement_free"] == "PyMem_Free"


def test_untyped_memory_judged_by_its_sizeof(scan_c):
    code = """
    #include <Python.h>
    typedef struct { PyObject_HEAD int x; } Obj;
    typedef struct { int a; } Plain;
    typedef struct { Plain *ctx; void *prv; } Iter;
    static void f(Iter *it, int n, Plain *p) {
        it->prv = PyObject_Malloc(sizeof(Plain));
        void *b = PyObject_Malloc(n * sizeof(double));
        void *c = PyObject_Calloc(n, sizeof(char));
        void *g = PyObject_Malloc(sizeof(*p));
        void *obj = PyObject_Malloc(sizeof(Obj));          /* an object */
        void *trailing = PyObject_Malloc(sizeof(Plain) + n); /* a header plus more: unknown */
    }
    """
    res = scan_c(code, select=["FT401"])
    assert sorted((f.symbol, f.data["replacement"]) for f in res.findings) == [
        ("b", "PyMem_Malloc"), ("c", "PyMem_Calloc"), ("g", "PyMem_Malloc"), ("prv", "PyMem_Malloc")]
    assert "sizeof(Plain)" in next(f.message for f in res.findings if f.symbol == "prv")


def test_object_allocator_handed_out_as_a_callback(scan_c):
    code = """
    #include <Python.h>
    typedef struct {
        void *(*malloc)(size_t); void (*free)(void *); void *(*realloc)(void *, size_t);
    } Allocator;
    static Allocator table = { PyObject_Malloc, PyObject_Free, PyObject_Realloc };
    static void *call_it(size_t n) { return PyObject_Malloc(n); }   /* a call: judged by type */
    """
    res = scan_c(code, select=["FT401"])
    assert sorted((f.symbol, f.data["target_kind"], f.data["replacement"]) for f in res.findings) == [
        ("PyObject_Malloc", "function-pointer", "PyMem_Malloc"),
        ("PyObject_Realloc", "function-pointer", "PyMem_Realloc")]


def test_struct_incomplete_in_one_file_and_complete_in_another(scan_c):
    # the same struct name: opaque in a.c, defined (not an object) in b.c; each file judged on its own
    files = {
        "a.c": """
        #include <Python.h>
        typedef struct _keys Keys;
        static Keys *make_a(size_t n) { Keys *k = PyObject_Malloc(n); return k; }
        """,
        "b.c": """
        #include <Python.h>
        typedef struct _keys { Py_ssize_t refcnt; char table[1]; } Keys;
        static Keys *make_b(size_t n) { Keys *k = PyObject_Malloc(n); return k; }
        """,
    }
    res = scan_c(files, select=["FT401"])
    assert [(f.function, f.symbol) for f in res.findings] == [("make_b", "k")]
