"""FT503 fix: the hand-written header becomes PyObject_HEAD_INIT (structs) or the compat header's
EXTMIGRATE_OBJECT_INIT (a whole PyObject); the patched file compiles against each CPython 3.10-3.13's
headers with and without -DPy_GIL_DISABLED=1 (the original does not with 3.13's free-threaded
layout), and the patched module runs."""

from __future__ import annotations

import shutil
import sys

import pytest

from extmigrate import pythons
from tests.fix.conftest import build_and_run

CODE = """\
    #include <Python.h>

    typedef struct { PyObject_HEAD long tag; } Marker;
    static PyTypeObject MarkerType = { PyVarObject_HEAD_INIT(NULL, 0) "sentinel.Marker", sizeof(Marker) };

    static PyObject missing = { _PyObject_EXTRA_INIT 1, &MarkerType };
    static PyObject named = { .ob_refcnt = 1, .ob_type = &MarkerType };
    static Marker first = { { 1, &MarkerType }, 11 };
    static Marker second = { _PyObject_EXTRA_INIT 1, &MarkerType, 22 };
    static Marker third = { .ob_base = { .ob_refcnt = 1, .ob_type = &MarkerType }, .tag = 33 };

    static PyObject *get(PyObject *self, PyObject *arg) {
        static Marker lazy = { { _PyObject_EXTRA_INIT 1, &MarkerType } };
        long n = PyLong_AsLong(arg);
        PyObject *r = n == 0 ? &missing : n == 1 ? &named : n == 2 ? (PyObject *)&first
            : n == 3 ? (PyObject *)&second : n == 4 ? (PyObject *)&third : (PyObject *)&lazy;
        return Py_NewRef(r);
    }

    static PyObject *tag(PyObject *self, PyObject *arg) {
        return PyLong_FromLong(((Marker *)arg)->tag);
    }

    static PyMethodDef methods[] = {{"get", get, METH_O, NULL}, {"tag", tag, METH_O, NULL},
                                    {NULL, NULL, 0, NULL}};
    static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "sentinel", NULL, -1, methods};
    PyMODINIT_FUNC PyInit_sentinel(void) {
        if (PyType_Ready(&MarkerType) < 0)
            return NULL;
        return PyModule_Create(&moddef);
    }
"""

RUN = """
import sentinel, sys
objs = [sentinel.get(i) for i in range(6)]
assert all(type(o).__name__ == "Marker" for o in objs), objs
assert len({id(o) for o in objs}) == 6
assert [sentinel.tag(o) for o in objs[2:]] == [11, 22, 33, 0]
before = sys.getrefcount(objs[0])
for _ in range(1000):
    sentinel.get(0)
assert sys.getrefcount(objs[0]) == before
print("ok")
"""

VERSIONS = [(3, 10), (3, 11), (3, 12), (3, 13)]


def _headers(version: tuple[int, int]) -> pythons.Interpreter | None:
    return next((i for i in pythons.with_headers() if i.version == version and not i.free_threaded), None)


def test_patched_sentinels(project):
    project.write({"sentinel.c": CODE})
    rc, out, err = project.fix("--select", "FT503", "--apply")
    assert "6 finding(s) fixed, 0 left" in err, err
    text = project.read("sentinel.c")
    assert '#include "extmigrate_compat.h"\n' in text
    assert "static PyObject missing = EXTMIGRATE_OBJECT_INIT(&MarkerType);\n" in text
    assert "static PyObject named = EXTMIGRATE_OBJECT_INIT(&MarkerType);\n" in text
    assert "static Marker first = { PyObject_HEAD_INIT(&MarkerType) 11 };\n" in text
    assert "static Marker second = { PyObject_HEAD_INIT(&MarkerType) 22 };\n" in text
    assert "static Marker third = { .ob_base = PyObject_HEAD_INIT(&MarkerType) .tag = 33 };\n" in text
    assert "static Marker lazy = { PyObject_HEAD_INIT(&MarkerType) };\n" in text
    rc, report = project.scan("--select", "FT503")
    assert rc == 0, report
    assert build_and_run(project.root, "sentinel", sys.executable, RUN) == "ok"


@pytest.mark.parametrize("gil_disabled", [False, True], ids=["gil", "gil-disabled"])
@pytest.mark.parametrize("version", VERSIONS, ids=[f"{a}.{b}" for a, b in VERSIONS])
def test_patched_form_compiles(project, version, gil_disabled):
    it = _headers(version)
    if it is None:
        pytest.skip(f"no Python {version[0]}.{version[1]} headers here (EXTMIGRATE_PYTHONS)")
    if shutil.which(project.cc) is None:
        pytest.skip("no C compiler")
    project.write({"sentinel.c": CODE})
    rc, out, err = project.fix("--select", "FT503", "--apply")
    assert "6 finding(s) fixed, 0 left" in err, err
    project.write({"original.c": CODE})
    assert project.compile("sentinel.c", it, gil_disabled) is None
    if gil_disabled and version >= (3, 13):  # the free-threaded header: the original cannot compile
        assert "not computable at load time" in (project.compile("original.c", it, gil_disabled) or "")
    else:
        assert project.compile("original.c", it, gil_disabled) is None
