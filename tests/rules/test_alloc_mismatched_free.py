"""FT403 alloc-mismatched-free on real C files, with every discovered Python's headers."""

from __future__ import annotations

import pytest

from tests.conftest import header_params

PYTHONS = header_params()

TYPE_CODE = """
#include <Python.h>
#include <stdlib.h>
#include <string.h>

typedef struct { PyObject_HEAD char *name; double *vals; char *same; int *sizes; } Obj;

static PyObject *obj_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    Obj *self = (Obj *)type->tp_alloc(type, 0);
    if (self == NULL) return NULL;
    self->name = strdup("x");
    self->vals = PyMem_Malloc(10 * sizeof(double));
    self->same = PyMem_Malloc(10);
    self->sizes = PyMem_New(int, 3);
    if (self->vals == NULL) { PyMem_Free(self); return NULL; }
    return (PyObject *)self;
}

static int obj_grow(Obj *self) {
    PyMem_Resize(self->sizes, int, 10);
    self->same = PyMem_Realloc(self->same, 20);
    return 0;
}

static void obj_dealloc(Obj *self) {
    PyMem_Free(self->name);
    free(self->vals);
    PyMem_Free(self->same);
    PyMem_Del(self->sizes);
    Py_TYPE(self)->tp_free((PyObject *)self);
}
"""


@pytest.mark.parametrize("python", PYTHONS)
def test_fields_freed_by_another_family_in_another_function(scan_c, python):
    res = scan_c(TYPE_CODE, select=["FT403"], headers=python)
    assert res.findings, res.diagnostics
    text = open(res.findings[0].path).read().splitlines()
    line = lambda site: text[site.line - 1].strip()  # noqa: E731
    found = sorted((line(f), f.symbol, f.data["call"], f.data["alloc_family"], f.data["replacement"])
                   for f in res.findings)
    assert found == sorted([
        ("if (self->vals == NULL) { PyMem_Free(self); return NULL; }", "self", "PyMem_Free", "tp",
         "Py_TYPE(self)->tp_free"),
        ("PyMem_Free(self->name);", "name", "PyMem_Free", "libc", "free"),
        ("free(self->vals);", "vals", "free", "mem", "PyMem_Free"),
    ])
    name = next(f for f in res.findings if f.symbol == "name")
    assert "obj_new" in name.message
    assert [line(s) for s in name.related] == ['self->name = strdup("x");']


LOCALS = """
#include <Python.h>
#include <stdlib.h>
#include <string.h>
typedef struct { PyObject_HEAD int x; } Obj;
void fill(char **out);

static void locals(PyTypeObject *type) {
    char *a = malloc(10);
    PyMem_Free(a);                      /* mismatch */
    char *b = PyMem_Malloc(10);
    PyMem_Free(b);
    char *d = PyObject_Malloc(10);
    b = realloc(d, 20);                 /* mismatch: resized by libc */
    PyObject_Free(d);
    char *e = NULL;
    e = PyMem_RawMalloc(3);
    PyMem_RawFree(e);
    char *g = malloc(3);
    g = strchr("abc", 'b');             /* reassigned: unknown */
    free(g);
    char *h = malloc(3);
    fill(&h);                           /* may be replaced through the out parameter */
    PyMem_Free(h);
    PyObject *o = PyObject_New(PyObject, type);
    PyObject_Del(o);
    PyObject *gc = (PyObject *)PyObject_GC_New(Obj, type);
    PyObject_Del(gc);                   /* mismatch: GC objects need PyObject_GC_Del */
    PyObject *t = type->tp_alloc(type, 0);
    PyObject_GC_Del(t);                 /* depends on the type: accepted */
    Obj *n = PyObject_New(Obj, type);
    Py_TYPE(n)->tp_free((PyObject *)n);
}
"""


@pytest.mark.parametrize("python", PYTHONS)
def test_locals_within_a_function(scan_c, python):
    res = scan_c(LOCALS, select=["FT403"], headers=python)
    assert res.findings, res.diagnostics
    text = open(res.findings[0].path).read().splitlines()
    line = lambda site: text[site.line - 1].strip()  # noqa: E731
    found = sorted((line(f), f.symbol, f.data["call"], f.data["role"]) for f in res.findings)
    assert found == sorted([
        ("PyMem_Free(a);                      /* mismatch */", "a", "PyMem_Free", "free"),
        ("b = realloc(d, 20);                 /* mismatch: resized by libc */", "d", "realloc", "realloc"),
        ("PyObject_Del(gc);                   /* mismatch: GC objects need PyObject_GC_Del */", "gc", "PyObject_Del", "free"),
    ])
    resized = next(f for f in res.findings if f.symbol == "d")
    assert resized.data["replacement"] == "PyObject_Realloc"


def test_field_stored_from_a_local_allocation(scan_c):
    code = """
    #include <Python.h>
    #include <stdlib.h>
    typedef struct { PyObject_HEAD char *data; } Buf;
    static int buf_init(Buf *self) {
        char *tmp = malloc(8);
        if (tmp == NULL) return -1;
        self->data = tmp;
        return 0;
    }
    static void buf_dealloc(Buf *self) { PyMem_Free(self->data); }
    """
    res = scan_c(code, select=["FT403"])
    assert [(f.function, f.symbol, f.data["alloc_call"], f.data["replacement"]) for f in res.findings] == [
        ("buf_dealloc", "data", "malloc", "free")]
