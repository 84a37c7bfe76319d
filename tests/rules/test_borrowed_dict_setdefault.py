"""FT103 borrowed-dict-setdefault on real C files."""

from __future__ import annotations

import pytest

from tests.conftest import header_params

PYTHONS = header_params()

HEAD = """
#include <Python.h>
typedef struct { PyObject_HEAD PyObject *cache; } Obj;
"""


@pytest.mark.parametrize("python", PYTHONS)
def test_setdefault_result_used_is_reported_ignored_is_not(scan_c, python):
    res = scan_c(HEAD + """
    static PyObject *intern(Obj *self, PyObject *s) {
        PyDict_SetDefault(self->cache, s, s);
        PyObject *v = PyDict_SetDefault(self->cache, s, s);
        return Py_XNewRef(v);
    }
    static PyObject *local(Obj *self, PyObject *s) {
        PyObject *d = PyDict_New();
        PyObject *v = PyDict_SetDefault(d, s, s);
        Py_XINCREF(v);
        Py_DECREF(d);
        return v;
    }
    """, select=["FT103"], headers=python).findings
    assert [(f.line, f.symbol) for f in res] == [(7, "PyDict_SetDefault(self->cache)")]
    assert "PyDict_SetDefaultRef (3.13+" in res[0].message
