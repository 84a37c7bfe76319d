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
