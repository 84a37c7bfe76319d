"""FT515 fix: the reading method runs inside a critical section on self."""

from __future__ import annotations

HASHER = """\
    #include <Python.h>

    typedef struct { PyObject_HEAD Py_ssize_t total; unsigned long crc; } Hasher;

    static PyObject *hasher_update(Hasher *self, PyObject *arg) {
        Py_ssize_t n = PyObject_Length(arg);
        if (n < 0)
            return NULL;
        self->total += n;
        self->crc = self->crc * 31u + (unsigned long)n;
        Py_RETURN_NONE;
    }

    static PyObject *hasher_digest(Hasher *self, PyObject *unused) {
        return Py_BuildValue("(nk)", self->total, self->crc);
    }

    static PyMethodDef hasher_methods[] = {
        {"update", (PyCFunction)hasher_update, METH_O, NULL},
        {"digest", (PyCFunction)hasher_digest, METH_NOARGS, NULL},
        {NULL, NULL, 0, NULL},
    };

    static PyTypeObject HasherType = {
        PyVarObject_HEAD_INIT(NULL, 0)
        .tp_name = "m.Hasher",
        .tp_basicsize = sizeof(Hasher),
        .tp_methods = hasher_methods,
    };
"""


def test_the_reader_runs_in_a_critical_section(project):
    project.write({"m.c": HASHER})
    text = project.apply_and_verify("m.c", "FT515", "--unsafe-fixes", "--min-python", "3.10")
    assert "static PyObject *hasher_digest_impl(Hasher *self, PyObject *unused) {\n" in text
    assert ("static PyObject *hasher_digest(Hasher *self, PyObject *unused)\n{\n"
            "    PyObject *extmigrate_result;\n    Py_BEGIN_CRITICAL_SECTION(self);\n"
            "    extmigrate_result = hasher_digest_impl(self, unused);\n") in text
    # the writer is FT510's: left as it was
    assert "static PyObject *hasher_update(Hasher *self, PyObject *arg) {\n" in text


def test_readers_of_a_root_cause_each_run_in_a_critical_section(project):
    """Three methods read what one writer changes: one FT515 at the writer, whose fix wraps every
    reader; with FT510's fix of the writer the object's own lock is on both sides."""
    code = HASHER.replace('''    static PyMethodDef hasher_methods[] = {''', '''    static PyObject *hasher_total(Hasher *self, PyObject *unused) {
            return Py_BuildValue("(nk)", self->total, self->crc);
        }

        static PyObject *hasher_hex(Hasher *self, PyObject *unused) {
            return PyUnicode_FromFormat("%zd:%lx", self->total, self->crc);
        }

        static PyMethodDef hasher_methods[] = {
            {"total", (PyCFunction)hasher_total, METH_NOARGS, NULL},
            {"hex", (PyCFunction)hasher_hex, METH_NOARGS, NULL},''')
    project.write({"m.c": code})
    text = project.apply_and_verify("m.c", "FT515,FT510", "--unsafe-fixes", "--min-python", "3.10")
    for reader in ("hasher_digest", "hasher_total", "hasher_hex"):
        assert f"static PyObject *{reader}_impl(Hasher *self, PyObject *unused) {{\n" in text
        assert f"    extmigrate_result = {reader}_impl(self, unused);\n" in text
    assert "extmigrate_result = hasher_update_impl(self, arg);\n" in text  # FT510's, on the writer
    assert text.count("Py_BEGIN_CRITICAL_SECTION(self);") == 4
