"""FT104 fix: a critical section on the dict around the whole PyDict_Next loop."""

from __future__ import annotations

from tests.conftest import find_ft_python
from tests.fix.conftest import build_and_run

LOOP = """\
    #include <Python.h>

    typedef struct { PyObject_HEAD PyObject *handlers; } Reg;

    static PyObject *count_all(Reg *self, PyObject *unused) {
        Py_ssize_t pos = 0, n = 0;
        PyObject *key, *value;
        while (PyDict_Next(self->handlers, &pos, &key, &value)) {
            if (PyCallable_Check(value))
                n++;
        }
        return PyLong_FromSsize_t(n);
    }

    static PyObject *find(Reg *self, PyObject *unused) {
        Py_ssize_t pos = 0;
        PyObject *key, *value;
        while (PyDict_Next(self->handlers, &pos, &key, &value)) {
            if (PyCallable_Check(value))
                return Py_NewRef(key);
        }
        Py_RETURN_NONE;
    }
"""


def test_loop_in_a_critical_section(project):
    project.write({"reg.c": LOOP})
    rc, diff, err = project.fix("--select", "FT104", "--min-python", "3.12")
    assert ("+    Py_BEGIN_CRITICAL_SECTION(self->handlers);\n"
            "     while (PyDict_Next(self->handlers, &pos, &key, &value)) {\n") in diff
    assert "+    Py_END_CRITICAL_SECTION();\n     return PyLong_FromSsize_t(n);\n" in diff
    # find() returns from inside the loop: the section ends before that return too
    assert ("+    { EXTMIGRATE_CRITICAL_SECTION extmigrate_cs; EXTMIGRATE_CS_BEGIN(extmigrate_cs, "
            "self->handlers);\n     while (PyDict_Next(self->handlers, &pos, &key, &value)) {\n") in diff
    assert ("+            { PyObject *extmigrate_ret = Py_NewRef(key); "
            "EXTMIGRATE_CS_END(extmigrate_cs); return extmigrate_ret; }\n") in diff
    assert "+    EXTMIGRATE_CS_END(extmigrate_cs); }\n     Py_RETURN_NONE;\n" in diff
    rc, out, err = project.fix("--select", "FT104", "--min-python", "3.12", "--apply")
    project.compiles_everywhere("reg.c")
    assert "Py_BEGIN_CRITICAL_SECTION" in project.read("extmigrate_compat.h")
    rc, report = project.scan("--select", "FT104")
    assert rc == 0, report


def test_sequence_fast_loop_in_a_critical_section(project):
    project.write({"fast.c": """\
        #include <Python.h>

        static PyObject *total(PyObject *self, PyObject *arg) {
            PyObject *seq = PySequence_Fast(arg, "need a sequence");
            Py_ssize_t i, n;
            long sum = 0;
            if (seq == NULL)
                return NULL;
            n = PySequence_Fast_GET_SIZE(seq);
            for (i = 0; i < n; i++) {
                PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
                sum += PyLong_AsLong(item);
            }
            Py_DECREF(seq);
            return PyLong_FromLong(sum);
        }
        static PyMethodDef methods[] = {{"total", total, METH_O, NULL}, {NULL}};
    """})
    rc, diff, err = project.fix("--select", "FT108", "--min-python", "3.13")
    assert "+    Py_BEGIN_CRITICAL_SECTION(seq);\n     for (i = 0; i < n; i++) {\n" in diff
    project.fix("--select", "FT108", "--min-python", "3.13", "--apply")
    project.compiles_everywhere("fast.c", min_version=(3, 13))


# Every way out of the loop: return with a value, goto to a cleanup label, break, Py_RETURN_NONE.
EXITS = """\
    #include <Python.h>

    static PyObject *first_callable(PyObject *self, PyObject *d) {
        Py_ssize_t pos = 0;
        PyObject *key, *value;
        while (PyDict_Next(d, &pos, &key, &value)) {
            if (!PyUnicode_Check(key))
                goto bad;
            if (value == Py_Ellipsis)
                break;
            if (PyCallable_Check(value))
                return Py_NewRef(key);
            if (value == Py_True)
                Py_RETURN_TRUE;
        }
        Py_RETURN_NONE;
    bad:
        PyErr_SetString(PyExc_TypeError, "keys must be str");
        return NULL;
    }

    static PyObject *count_until_none(PyObject *self, PyObject *arg) {
        PyObject *seq = PySequence_Fast(arg, "need a sequence");
        Py_ssize_t i, n;
        if (seq == NULL)
            return NULL;
        n = PySequence_Fast_GET_SIZE(seq);
        for (i = 0; i < n; i++) {
            PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
            if (!PyLong_Check(item)) {  /* reads the item: a borrowed use */
                Py_DECREF(seq);
                return PyLong_FromSsize_t(i);
            }
        }
        Py_DECREF(seq);
        return PyLong_FromSsize_t(-1);
    }

    static PyMethodDef methods[] = {
        {"first_callable", first_callable, METH_O, NULL},
        {"count_until_none", count_until_none, METH_O, NULL},
        {NULL, NULL, 0, NULL},
    };
    static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "exits", NULL, -1, methods};
    PyMODINIT_FUNC PyInit_exits(void) { return PyModule_Create(&def); }
"""

# Each early exit must end the section: another thread then mutates the container at once (a
# section left held would block it, and the interpreter would abort at thread exit).
RUN = """
import exits, threading
d = {"a": 1, "b": len, "c": 2}
l = [1, 2, None, 3]
for _ in range(200):
    assert exits.first_callable(d) == "b"
    assert exits.first_callable({"a": True}) is True
    assert exits.first_callable({"a": ...}) is None
    try:
        exits.first_callable({1: 2})
    except TypeError:
        pass
    assert exits.count_until_none(l) == 2
    t = threading.Thread(target=lambda: (d.__setitem__("x", 0), l.append(0), l.pop()))
    t.start(); t.join(5)
    assert not t.is_alive(), "the container is still locked"
print("ok")
"""


def test_loop_exits_end_the_section(project, ft_python):
    project.write({"exits.c": EXITS})
    text = project.apply_and_verify("exits.c", "FT104,FT108", "--min-python", "3.10")
    assert "            { EXTMIGRATE_CS_END(extmigrate_cs); goto bad; }\n" in text
    assert "        if (value == Py_Ellipsis)\n            break;\n" in text  # reaches the end
    assert "            { EXTMIGRATE_CS_END(extmigrate_cs); Py_RETURN_TRUE; }\n" in text
    assert ("            { PyObject *extmigrate_ret = PyLong_FromSsize_t(i); "
            "EXTMIGRATE_CS_END(extmigrate_cs); return extmigrate_ret; }\n") in text
    assert build_and_run(project.root, "exits", ft_python, RUN, "-X", "gil=0") == "ok"


def test_nested_loops_end_both_sections(project):
    """A return from the inner of two locked loops ends the inner section, then the outer one."""
    project.write({"nest.c": """\
        #include <Python.h>

        static PyObject *find_pair(PyObject *self, PyObject *args) {
            PyObject *outer, *inner, *k1, *v1, *k2, *v2;
            Py_ssize_t i = 0, j;
            if (!PyArg_ParseTuple(args, "OO", &outer, &inner))
                return NULL;
            while (PyDict_Next(outer, &i, &k1, &v1)) {
                j = 0;
                while (PyDict_Next(inner, &j, &k2, &v2)) {
                    if (v1 == v2)
                        return PyTuple_Pack(2, k1, k2);
                }
            }
            Py_RETURN_NONE;
        }

        static PyMethodDef methods[] = {{"find_pair", find_pair, METH_VARARGS, NULL}, {NULL}};
        static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "nest", NULL, -1, methods};
        PyMODINIT_FUNC PyInit_nest(void) { return PyModule_Create(&def); }
    """})
    for _ in range(2):  # the two fixes touch the same return: the second lands on the next run
        project.fix("--select", "FT104", "--min-python", "3.10", "--apply")
    text = project.read("nest.c")
    assert "        { EXTMIGRATE_CRITICAL_SECTION extmigrate_cs2; EXTMIGRATE_CS_BEGIN(extmigrate_cs2, inner);\n" in text
    assert ("            { PyObject *extmigrate_ret = PyTuple_Pack(2, k1, k2); "
            "EXTMIGRATE_CS_END(extmigrate_cs2); EXTMIGRATE_CS_END(extmigrate_cs); return extmigrate_ret; }\n"
            ) in text  # the inner section ends first, then the outer one
    rc, report = project.scan("--select", "FT104")
    assert rc == 0, report
    project.compiles_everywhere("nest.c")
    ft = find_ft_python()
    if ft is not None:  # both sections released in order: other threads can then change both dicts
        assert build_and_run(project.root, "nest", ft, NEST_RUN, "-X", "gil=0") == "ok"


NEST_RUN = """
import nest, threading
a, b = {"x": 1, "y": 2}, {"p": 3, "q": 2}
for _ in range(200):
    assert nest.find_pair(a, b) == ("y", "q") and nest.find_pair(a, {}) is None
    t = threading.Thread(target=lambda: (a.__setitem__("z", 0), b.__setitem__("r", 9), a.pop("z"), b.pop("r")))
    t.start(); t.join(5)
    assert not t.is_alive(), "a dict is still locked"
print("ok")
"""
