"""FT104 borrowed-dict-next on real C files."""

from __future__ import annotations

import pytest

from tests.conftest import header_params

CODE = """
#include <Python.h>
typedef struct { PyObject_HEAD PyObject *handlers; } Obj;

static int shared(Obj *self) {
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (PyDict_Next(self->handlers, &pos, &key, &value)) {
        if (PyObject_IsTrue(value) < 0) return -1;
    }
    return 0;
}

static int locked(Obj *self) {
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    int rc = 0;
    Py_BEGIN_CRITICAL_SECTION(self->handlers);
    while (PyDict_Next(self->handlers, &pos, &key, &value)) {
        if (PyObject_IsTrue(value) < 0) { rc = -1; break; }
    }
    Py_END_CRITICAL_SECTION();
    return rc;
}

static PyObject *kw(PyObject *self, PyObject *args, PyObject *kwargs) {
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (kwargs && PyDict_Next(kwargs, &pos, &key, &value)) { }
    Py_RETURN_NONE;
}

static PyObject *own(PyObject *self, PyObject *src) {
    PyObject *key, *value, *copy = PyDict_Copy(src);
    Py_ssize_t pos = 0;
    if (copy == NULL) return NULL;
    while (PyDict_Next(copy, &pos, &key, &value)) { }
    Py_DECREF(copy);
    Py_RETURN_NONE;
}

static PyObject *arg(PyObject *self, PyObject *d) {
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    for (; PyDict_Next(d, &pos, &key, &value);) { }
    Py_RETURN_NONE;
}
"""


@pytest.mark.parametrize("python", header_params((3, 13)))  # critical sections, PyMutex
def test_unlocked_iteration_of_shared_dicts_only(scan_c, python):
    res = [f for f in scan_c(CODE, select=["FT104"], headers=python).findings if f.code == "FT104"]
    assert [(f.function, f.symbol) for f in res] == [("shared", "PyDict_Next(self->handlers)"),
                                                    ("arg", "PyDict_Next(d)")]
    f = res[0]
    assert "Py_BEGIN_CRITICAL_SECTION(self->handlers)" in f.message
    assert f.data["out"] == ["key", "value"] and f.data["remedy"] == "critical-section"
    start, end = f.data["loop"]
    loop = open(f.path, "rb").read()[start:end].decode()
    assert loop.startswith("while (PyDict_Next(self->handlers") and loop.endswith("}")
