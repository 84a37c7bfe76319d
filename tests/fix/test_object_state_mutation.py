"""FT510 fix: writes to self's fields inside a critical section on self (adjacent writes share one)."""

from __future__ import annotations

from tests.rules.test_object_state_root_cause import CODE

COUNTER = """\
    #include <Python.h>

    typedef struct { PyObject_HEAD Py_ssize_t hits; PyObject *last; } Counter;

    static PyObject *counter_hit(Counter *self, PyObject *arg) {
        self->hits++;
        Py_XSETREF(self->last, Py_NewRef(arg));
        if (PyLong_Check(arg))
            self->hits += 2;
        Py_RETURN_NONE;
    }

    static PyMethodDef counter_methods[] = {
        {"hit", (PyCFunction)counter_hit, METH_O, NULL},
        {NULL, NULL, 0, NULL},
    };

    static PyTypeObject CounterType = {
        PyVarObject_HEAD_INIT(NULL, 0)
        .tp_name = "m.Counter",
        .tp_basicsize = sizeof(Counter),
        .tp_methods = counter_methods,
    };
"""


def test_the_method_runs_in_a_critical_section(project):
    project.write({"m.c": COUNTER})
    rc, diff, err = project.fix("--select", "FT510")
    assert diff == "" and "--unsafe-fixes" in err
    text = project.apply_and_verify("m.c", "FT510", "--unsafe-fixes", "--min-python", "3.10")
    assert "static PyObject *counter_hit_impl(Counter *self, PyObject *arg) {\n    self->hits++;\n" in text
    assert ("static PyObject *counter_hit(Counter *self, PyObject *arg)\n{\n"
            "    PyObject *extmigrate_result;\n    Py_BEGIN_CRITICAL_SECTION(self);\n"
            "    extmigrate_result = counter_hit_impl(self, arg);\n") in text


def test_each_write_when_the_method_cannot_be_wrapped(project):
    project.write({"m.cpp": COUNTER.replace("PyObject *arg) {", "PyObject *) {").replace(
        "Py_NewRef(arg)", "Py_NewRef(Py_None)").replace("PyLong_Check(arg)", "self->hits > 3")})
    rc, diff, err = project.fix("--select", "FT510", "--unsafe-fixes", "--min-python", "3.13")
    assert ("+    Py_BEGIN_CRITICAL_SECTION(self);\n     self->hits++;\n"
            "     Py_XSETREF(self->last, Py_NewRef(Py_None));\n+    Py_END_CRITICAL_SECTION();\n") in diff
    assert ("+        { Py_BEGIN_CRITICAL_SECTION(self); self->hits += 2; Py_END_CRITICAL_SECTION(); }\n"
            in diff)


ITER = """\
    #include <Python.h>

    typedef struct { PyObject_HEAD Py_ssize_t i, n; } Iter;

    static PyObject *
    iter_next(Iter *self)
    {
        if (self->i < self->n)
            return PyLong_FromSsize_t(self->i++);
        return NULL;
    }

    static PyTypeObject IterType = {
        PyVarObject_HEAD_INIT(NULL, 0)
        .tp_name = "m.Iter",
        .tp_basicsize = sizeof(Iter),
        .tp_iternext = (iternextfunc)iter_next,
    };
"""


def test_write_inside_a_return_locks_the_whole_method(project):
    project.write({"it.c": ITER})
    text = project.apply_and_verify("it.c", "FT510", "--unsafe-fixes", "--min-python", "3.10")
    assert "static PyObject *\niter_next_impl(Iter *self)\n{\n    if (self->i < self->n)\n" in text
    assert ("static PyObject *\niter_next(Iter *self)\n{\n    PyObject *extmigrate_result;\n"
            "    Py_BEGIN_CRITICAL_SECTION(self);\n    extmigrate_result = iter_next_impl(self);\n"
            "    Py_END_CRITICAL_SECTION();\n    return extmigrate_result;\n}\n") in text


PAIR = """\
    #include <Python.h>

    typedef struct { PyObject_HEAD PyObject *data; PyObject *order; } Cache;

    static PyObject *cache_clear(Cache *self, PyObject *unused) {
        PyDict_Clear(self->data);
        if (PyList_SetSlice(self->order, 0, PY_SSIZE_T_MAX, NULL) < 0)
            return NULL;
        Py_RETURN_NONE;
    }

    static PyMethodDef cache_methods[] = {
        {"clear", (PyCFunction)cache_clear, METH_NOARGS, NULL},
        {NULL, NULL, 0, NULL},
    };

    static PyTypeObject CacheType = {
        PyVarObject_HEAD_INIT(NULL, 0)
        .tp_name = "m.Cache",
        .tp_basicsize = sizeof(Cache),
        .tp_methods = cache_methods,
    };
"""


def test_changes_to_two_containers_run_in_one_critical_section(project):
    project.write({"c.c": PAIR})
    text = project.apply_and_verify("c.c", "FT510", "--unsafe-fixes", "--min-python", "3.10")
    assert ("static PyObject *cache_clear_impl(Cache *self, PyObject *unused) {\n"
            "    PyDict_Clear(self->data);\n") in text
    assert ("    Py_BEGIN_CRITICAL_SECTION(self);\n"
            "    extmigrate_result = cache_clear_impl(self, unused);\n") in text


def test_no_section_per_call_when_the_method_cannot_be_wrapped(project):
    project.write({"c.cpp": PAIR.replace("PyObject *unused) {", "PyObject *) {")})
    rc, diff, err = project.fix("--select", "FT510", "--unsafe-fixes", "--min-python", "3.13")
    assert diff == ""  # no fix at all rather than a section around each call
    assert "changes self->data, self->order in several steps" in err


def test_a_root_cause_is_fixed_once_in_the_helper(project):
    """Seven methods through one lazy-fill helper: one wrapper, around the helper."""
    project.write({"m.c": CODE.replace("static PyType_Slot", "PyType_Slot")})
    text = project.apply_and_verify("m.c", "FT510", "--unsafe-fixes", "--min-python", "3.10")
    assert "static int ensure_index_impl(TableObject *self) {\n" in text
    assert "    extmigrate_result = ensure_index_impl(self);\n" in text
    assert text.count("Py_BEGIN_CRITICAL_SECTION(self);") == 1  # the methods are left as they were
