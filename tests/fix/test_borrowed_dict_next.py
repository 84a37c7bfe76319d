"""FT104 fix: a critical section on the dict around the whole PyDict_Next loop."""

from __future__ import annotations

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
    assert "returns or jumps out of its body" in err  # find() would leave the section held
    rc, out, err = project.fix("--select", "FT104", "--min-python", "3.12", "--apply")
    project.compiles_everywhere("reg.c")
    assert "Py_BEGIN_CRITICAL_SECTION" in project.read("extmigrate_compat.h")
    rc, report = project.scan("--select", "FT104")
    assert rc == 1 and report.count(": FT104 ") == 1 and "reg.c:21:" in report  # find() is left


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
