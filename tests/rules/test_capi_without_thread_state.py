"""FT511 capi-without-thread-state on real C through a real scan."""

from __future__ import annotations

CODE = """
#include <Python.h>
#include <unistd.h>
#define MY_DECREF(o) Py_DECREF(o)

static PyObject *bad_read(PyObject *self, PyObject *arg) {
    char buf[64];
    ssize_t n;
    Py_BEGIN_ALLOW_THREADS
    n = read(0, buf, sizeof buf);
    if (n < 0)
        PyErr_SetFromErrno(PyExc_OSError);
    MY_DECREF(arg);
    Py_END_ALLOW_THREADS
    return PyBytes_FromStringAndSize(buf, n);
}

static PyObject *good_write(PyObject *self, PyObject *data) {
    ssize_t n;
    void *tmp;
    Py_BEGIN_ALLOW_THREADS
    tmp = PyMem_RawMalloc(16);
    n = write(1, PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data));
    PyMem_RawFree(tmp);
    Py_END_ALLOW_THREADS
    if (n < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_NONE;
}

static PyObject *block_in_error_branch(PyObject *self, PyObject *unused) {
    ssize_t n;
    char c;
    Py_BEGIN_ALLOW_THREADS
    n = read(0, &c, 1);
    if (n < 0) {
        Py_BLOCK_THREADS
        PyErr_SetFromErrno(PyExc_OSError);
        return NULL;
    }
    n = PyLong_AsLong(self);
    Py_END_ALLOW_THREADS
    return PyLong_FromSsize_t(n);
}

static PyObject *manual_save(PyObject *self, PyObject *unused) {
    PyThreadState *ts = PyEval_SaveThread();
    Py_INCREF(self);
    PyEval_RestoreThread(ts);
    Py_DECREF(self);
    Py_RETURN_NONE;
}

static PyObject *returns_inside(PyObject *self, PyObject *unused) {
    Py_BEGIN_ALLOW_THREADS
    if (self == Py_None) Py_RETURN_NONE;
    Py_END_ALLOW_THREADS
    return NULL;
}
"""


def test_calls_in_detached_stretches(scan_c):
    res = scan_c(CODE, select=["FT511"])
    got = [(f.function, f.symbol, f.line) for f in res.findings]
    assert got == [
        ("bad_read", "PyErr_SetFromErrno", 12),
        ("bad_read", "MY_DECREF (uses Py_DECREF)", 13),
        ("block_in_error_branch", "PyLong_AsLong", 41),
        ("manual_save", "Py_INCREF", 48),
        ("returns_inside", "Py_RETURN_NONE", 56),
    ]
    assert all(f.severity == "error" for f in res.findings)
    assert res.findings[0].related[0].line == 9  # where the thread state was released


def test_project_macros_and_nested_blocks(scan_c):
    code = """
#include <Python.h>
typedef struct { PyObject_HEAD PyThreadState *state; } Obj;
#define MY_RELEASE(o) (o)->state = PyEval_SaveThread();
#define MY_ACQUIRE(o) PyEval_RestoreThread((o)->state); (o)->state = NULL;
static int work(void) { return 0; }
static PyObject *run(Obj *self, PyObject *arg) {
    int r = 0;
    if (arg != Py_None) {
        MY_RELEASE(self)
        r = work();
        Py_XINCREF(arg);
        MY_ACQUIRE(self)
    }
    return PyLong_FromLong(r);
}
"""
    res = scan_c(code, select=["FT511"])
    # detached by the project's own macro; re-attached at the same depth, so the return is fine
    assert [(f.symbol, f.line) for f in res.findings] == [("Py_XINCREF", 12)]


def test_a_macro_that_detaches_and_reattaches_is_balanced(scan_c):
    """A lock macro that waits with the thread state detached leaves it attached: the calls after it
    are fine; a real detached stretch after it is still seen."""
    code = """
#include <Python.h>
#include <pythread.h>
typedef struct { PyObject_HEAD PyThread_type_lock lock; } Obj;
#define ACQUIRE(o) do { if (!PyThread_acquire_lock((o)->lock, 0)) { \\
        Py_BEGIN_ALLOW_THREADS PyThread_acquire_lock((o)->lock, 1); Py_END_ALLOW_THREADS } } while (0)
static int work(void) { return 0; }
static PyObject *flush(Obj *self, PyObject *arg) {
    int r;
    ACQUIRE(self);
    if (arg == NULL) {
        PyErr_NoMemory();
        goto error;
    }
    Py_BEGIN_ALLOW_THREADS
    r = work();
    Py_XINCREF(arg);
    Py_END_ALLOW_THREADS
    PyThread_release_lock(self->lock);
    return PyLong_FromLong(r);
error:
    PyThread_release_lock(self->lock);
    return NULL;
}
"""
    res = scan_c(code, select=["FT511"])
    assert [(f.symbol, f.line) for f in res.findings] == [("Py_XINCREF", 17)]
