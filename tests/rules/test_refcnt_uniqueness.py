"""FT501 refcnt-uniqueness on real C files: every discovered Python's headers, GIL and free-threaded parses."""

from __future__ import annotations

import pytest

from tests.conftest import header_matrix

CONFIGS = header_matrix()

CODE = """
#include <Python.h>
#include <assert.h>
#include <stdio.h>

typedef struct { PyObject_HEAD PyObject *cache; } Obj;

static int tests(PyObject *o, PyObject *t, Obj *self) {
    int r = 0;
    if (Py_REFCNT(o) == 1) { r++; }
    if (1 == Py_REFCNT(t)) { r++; }
    if (Py_REFCNT(o) <= 1) { r++; }
    if (Py_REFCNT(self->cache) > 1) { r++; }
    if (2 > Py_REFCNT(o)) { r++; }
    if (o->ob_refcnt == 1) { r++; }
    if (Py_REFCNT(self) != 1) { r++; }
    return r;
}

static int not_tests(PyObject *o) {
    int r = 0;
    if (Py_REFCNT(o) == 2) { r++; }           /* not a uniqueness test */
    if (Py_REFCNT(o) > 0) { r++; }
    assert(Py_REFCNT(o) == 1);                /* an expectation, decides nothing */
    printf("%zd\\n", Py_REFCNT(o));            /* debug output */
#ifndef Py_GIL_DISABLED
    if (Py_REFCNT(o) == 1) { r++; }           /* never compiled free-threaded */
#endif
#if PY_VERSION_HEX < 0x030D0000
    if (Py_REFCNT(o) == 1) { r++; }
#endif
    return r;
}
"""

EXPECTED = sorted([
    ("Py_REFCNT(o) == 1", "o", "unique", "PyUnstable_Object_IsUniquelyReferenced(o)"),
    ("1 == Py_REFCNT(t)", "t", "unique", "PyUnstable_Object_IsUniquelyReferenced(t)"),
    ("Py_REFCNT(o) <= 1", "o", "unique", "PyUnstable_Object_IsUniquelyReferenced(o)"),
    ("Py_REFCNT(self->cache) > 1", "self->cache", "shared",
     "!PyUnstable_Object_IsUniquelyReferenced(self->cache)"),
    ("2 > Py_REFCNT(o)", "o", "unique", "PyUnstable_Object_IsUniquelyReferenced(o)"),
    ("o->ob_refcnt == 1", "o", "unique", "PyUnstable_Object_IsUniquelyReferenced(o)"),
    ("Py_REFCNT(self) != 1", "self", "shared",
     "!PyUnstable_Object_IsUniquelyReferenced((PyObject *)self)"),
])


@pytest.mark.parametrize("headers", CONFIGS)
def test_uniqueness_tests_in_every_configuration(scan_c, headers):
    res = scan_c(CODE, select=["FT501"], headers=headers)
    assert res.findings, res.diagnostics
    src = open(res.findings[0].path, "rb").read().decode()
    found = sorted((src[f.data["cmp_start"]:f.data["cmp_end"]], f.symbol, f.data["test"],
                    f.data["replacement"]) for f in res.findings)
    assert found == EXPECTED
    assert {f.function for f in res.findings} == {"tests"}


def test_refcount_extent_is_recorded(scan_c):
    res = scan_c(CODE, select=["FT501"])
    src = open(res.findings[0].path, "rb").read().decode()
    reads = sorted(src[f.data["refcnt_start"]:f.data["refcnt_end"]] for f in res.findings)
    assert reads == sorted(["Py_REFCNT(o)", "Py_REFCNT(t)", "Py_REFCNT(o)", "Py_REFCNT(self->cache)",
                            "Py_REFCNT(o)", "o->ob_refcnt", "Py_REFCNT(self)"])


def test_resurrection_checks_in_destructors_are_not_reported(scan_c):
    code = """
    #include <Python.h>
    typedef struct { PyObject_HEAD PyObject *cache; } Obj;
    static void finalize_me(PyObject *self) {
        if (Py_REFCNT(self) > 1) { return; }            /* resurrected by the finaliser */
    }
    static void obj_dealloc(Obj *self) {
        Py_SET_REFCNT(self, 1);
        if (Py_REFCNT(self) != 1) { return; }
        if (Py_REFCNT(self->cache) == 1) { }             /* another object: still a test */
        Py_TYPE(self)->tp_free((PyObject *)self);
    }
    static PyTypeObject ObjType = {
        PyVarObject_HEAD_INIT(NULL, 0)
        .tp_name = "m.Obj",
        .tp_basicsize = sizeof(Obj),
        .tp_finalize = finalize_me,
    };
    """
    res = scan_c(code, select=["FT501"])
    assert [(f.function, f.symbol) for f in res.findings] == [("obj_dealloc", "self->cache")]
