"""FT301 fix: counters become atomic adds; other writes are held under a static PyMutex."""

from __future__ import annotations

from tests.fix.conftest import git_apply_check

COUNTER = """\
    #include <Python.h>

    static long ncalls;

    static PyObject *count(PyObject *self, PyObject *arg) {
        ncalls++;
        ncalls += PyTuple_GET_SIZE(arg) > 1 ? 2 : 1;
        --ncalls;
        return PyLong_FromLong(ncalls);
    }

    static PyMethodDef methods[] = {{"count", count, METH_VARARGS, NULL}, {NULL}};
"""

STATE = """\
    #include <Python.h>

    static int mode;
    static PyObject *last;

    static PyObject *set_mode(PyObject *self, PyObject *arg) {
        if (PyLong_Check(arg))
            mode = 1;
        else {
            mode = 2;
        }
        Py_XSETREF(last, Py_NewRef(arg));
        Py_RETURN_NONE;
    }

    static PyMethodDef methods[] = {{"set_mode", set_mode, METH_O, NULL}, {NULL}};
"""


def test_counter_becomes_atomic(project):
    project.write({"count.c": COUNTER})
    rc, diff, err = project.fix("--select", "FT301", "--min-python", "3.9")
    git_apply_check(project.root, diff)
    text = project.apply_and_verify("count.c", "FT301", "--min-python", "3.9")
    assert "    EXTMIGRATE_ATOMIC_ADD(&ncalls, 1);\n" in text
    assert "    EXTMIGRATE_ATOMIC_ADD(&ncalls, PyTuple_GET_SIZE(arg) > 1 ? 2 : 1);\n" in text
    assert "    EXTMIGRATE_ATOMIC_ADD(&ncalls, -1);\n" in text
    assert "return PyLong_FromLong(EXTMIGRATE_ATOMIC_LOAD(&ncalls));" in text  # the read too
    assert '#include <Python.h>\n#include "extmigrate_compat.h"\n' in text
    header = project.read("extmigrate_compat.h")
    assert "EXTMIGRATE_ATOMIC_ADD" in header and "PyMutex" not in header


def test_state_writes_are_locked_only_with_unsafe_fixes(project):
    project.write({"state.c": STATE})
    rc, diff, err = project.fix("--select", "FT301", "--min-python", "3.13")
    assert diff == "" and "--unsafe-fixes" in err
    text = project.apply_and_verify("state.c", "FT301", "--min-python", "3.13", "--unsafe-fixes",
                                    min_version=(3, 13))
    assert "static PyMutex mode_lock;  /* guards mode (extmigrate) */\nstatic int mode;\n" in text
    assert "        { PyMutex_Lock(&mode_lock); mode = 1; PyMutex_Unlock(&mode_lock); }\n" in text
    assert "        PyMutex_Lock(&mode_lock);\n        mode = 2;\n        PyMutex_Unlock(&mode_lock);\n" in text
    assert "    PyMutex_Lock(&last_lock);\n    Py_XSETREF(last, Py_NewRef(arg));\n" in text
    assert "extmigrate_compat.h" not in text  # PyMutex exists in 3.13, the oldest supported here


def test_write_inside_a_condition_is_not_rewritten(project):
    project.write({"m.c": """\
        #include <Python.h>
        static long hits;
        static PyObject *f(PyObject *self, PyObject *arg) {
            if (++hits > 10)
                Py_RETURN_TRUE;
            Py_RETURN_FALSE;
        }
        static PyMethodDef methods[] = {{"f", f, METH_O, NULL}, {NULL}};
    """})
    rc, diff, err = project.fix("--select", "FT301", "--unsafe-fixes")
    assert diff == ""
    assert "part of a condition, declaration or return" in err


CACHE = """\
    #include <Python.h>

    #define CACHE_MAX 16
    typedef struct { Py_ssize_t size; void *items[CACHE_MAX]; } Cache;
    static Cache cache;

    static void *take(void) {
        if (cache.size > 0) {
            cache.size--;
            return cache.items[cache.size];
        }
        return PyMem_Malloc(32);
    }

    static void give(void *p) {
        if (cache.size < CACHE_MAX) {
            cache.items[cache.size] = p;
            cache.size++;
        } else {
            PyMem_Free(p);
        }
    }

    static PyObject *churn(PyObject *self, PyObject *unused) {
        give(take());
        Py_RETURN_NONE;
    }

    static PyMethodDef methods[] = {{"churn", churn, METH_NOARGS, NULL}, {NULL}};
"""


def test_check_then_act_is_locked_as_a_whole(project):
    project.write({"cache.c": CACHE})
    text = project.apply_and_verify("cache.c", "FT301", "--unsafe-fixes", "--min-python", "3.10")
    assert ("    PyMutex_Lock(&cache_lock);\n    if (cache.size > 0) {\n        cache.size--;\n"
            "        { void *extmigrate_ret = cache.items[cache.size]; PyMutex_Unlock(&cache_lock); "
            "return extmigrate_ret; }\n    }\n    PyMutex_Unlock(&cache_lock);\n") in text
    assert ("    PyMutex_Lock(&cache_lock);\n    if (cache.size < CACHE_MAX) {\n"
            "        cache.items[cache.size] = p;\n        cache.size++;\n    } else {\n"
            "        PyMem_Free(p);\n    }\n    PyMutex_Unlock(&cache_lock);\n") in text


def test_locks_of_neighbouring_fixes_do_not_interleave(project):
    project.write({"two.c": """\
        #include <Python.h>
        static PyObject *cur_ctx, *prev_ctx;
        static PyObject *switch_ctx(PyObject *self, PyObject *ctx) {
            prev_ctx = cur_ctx;
            cur_ctx = ctx;
            Py_RETURN_NONE;
        }
        static PyMethodDef methods[] = {{"switch_ctx", switch_ctx, METH_O, NULL}, {NULL}};
    """})
    text = project.apply_and_verify("two.c", "FT301", "--unsafe-fixes", "--min-python", "3.13",
                                    min_version=(3, 13))
    body = text[text.index("switch_ctx(PyObject"):]
    assert body.index("PyMutex_Unlock(&prev_ctx_lock)") < body.index("PyMutex_Lock(&cur_ctx_lock)")


def test_files_remedied_in_parallel_workers(project, capsys):
    from extmigrate.cli import main
    files = {f"m{i}.c": COUNTER.replace("count", f"count{i}") for i in range(3)}
    project.write(files)
    capsys.readouterr()
    rc = main(["fix", "-j", "2", "--no-config", "--no-progress", "--select", "FT301", "."])
    diff = capsys.readouterr().out
    for name in files:
        assert f"+++ b/{name}\n" in diff
    assert diff.count("+    EXTMIGRATE_ATOMIC_ADD(&ncalls, 1);\n") == 3


def test_counter_reads_stay_when_another_use_is_not_a_plain_read(project):
    """An address taken (or an init-time reset the finding does not list): only the adds are
    rewritten; the fix's description asks for a review of the other uses."""
    project.write({"count.c": COUNTER.replace(
        "static PyMethodDef",
        "static long *where(void) { return &ncalls; }\n    static PyMethodDef")})
    rc, diff, err = project.fix("--select", "FT301", "--min-python", "3.9")
    assert "+    EXTMIGRATE_ATOMIC_ADD(&ncalls, 1);\n" in diff
    assert "\n     return PyLong_FromLong(ncalls);\n" in diff  # an unchanged context line
    assert "&EXTMIGRATE" not in diff and "EXTMIGRATE_ATOMIC_LOAD(&ncalls)" not in diff
