"""FT302 fix: the check-then-set under one PyMutex; returns inside it unlock first."""

from __future__ import annotations

LAZY = """\
    #include <Python.h>

    static PyObject *str_name = NULL;

    static PyObject *get_name(PyObject *self, PyObject *obj) {
        if (str_name == NULL) {
            str_name = PyUnicode_InternFromString("name");
            if (str_name == NULL)
                return NULL;
        }
        return PyObject_GetAttr(obj, str_name);
    }

    static PyMethodDef methods[] = {{"get_name", get_name, METH_O, NULL}, {NULL}};
"""


def test_lock_held_over_check_and_set(project):
    project.write({"lazy.c": LAZY})
    text = project.apply_and_verify("lazy.c", "FT302", "--unsafe-fixes", "--min-python", "3.10")
    assert "static PyMutex str_name_lock;" in text
    assert ("    PyMutex_Lock(&str_name_lock);\n    if (str_name == NULL) {\n" in text)
    assert "            { PyMutex_Unlock(&str_name_lock); return NULL; }\n" in text
    assert "    }\n    PyMutex_Unlock(&str_name_lock);\n    return PyObject_GetAttr" in text
    assert "PyMutex" in project.read("extmigrate_compat.h")


def test_goto_inside_is_refused(project):
    project.write({"lazy.c": LAZY.replace("return NULL;", "goto error;").replace(
        "return PyObject_GetAttr(obj, str_name);", "return PyObject_GetAttr(obj, str_name);\n"
        "    error:\n        return NULL;")})
    rc, diff, err = project.fix("--select", "FT302", "--unsafe-fixes")
    assert diff == ""
    assert "goto" in err


def test_returned_value_is_computed_before_the_unlock(project):
    project.write({"lazy.c": """\
        #include <Python.h>

        static PyObject *cache = NULL;

        static PyObject *get(PyObject *self, PyObject *unused) {
            if (cache == NULL) {
                cache = PyDict_New();
                return Py_XNewRef(cache);
            }
            return Py_NewRef(cache);
        }

        static PyMethodDef methods[] = {{"get", get, METH_NOARGS, NULL}, {NULL}};
    """})
    text = project.apply_and_verify("lazy.c", "FT302", "--unsafe-fixes", "--min-python", "3.13",
                                    min_version=(3, 13))
    assert ("        { PyObject *extmigrate_ret = Py_XNewRef(cache); PyMutex_Unlock(&cache_lock); "
            "return extmigrate_ret; }\n") in text


def test_lock_is_declared_before_the_first_use_when_the_global_is_defined_below(project):
    """The shape of a module whose caches are declared `extern` in its header and defined at the end
    of module.c, after the lazy initialisers: the mutex goes before the first function using it."""
    project.write({"module.h": """\
        #include <Python.h>
        extern PyObject *_mod_BytesIO;
        """, "module.c": """\
        #include "module.h"

        static int init_bytesio(void) {
            PyObject *io = PyImport_ImportModule("io");
            if (io == NULL)
                return -1;
            _mod_BytesIO = PyObject_GetAttrString(io, "BytesIO");
            Py_DECREF(io);
            return _mod_BytesIO ? 0 : -1;
        }

        static PyObject *make(PyObject *self, PyObject *unused) {
            if (!_mod_BytesIO && init_bytesio() == -1)
                return NULL;
            return PyObject_CallNoArgs(_mod_BytesIO);
        }

        static PyMethodDef methods[] = {{"make", make, METH_NOARGS, NULL}, {NULL}};

        PyObject *_mod_BytesIO = NULL;
        """})
    rc, out, err = project.fix("--unsafe-fixes", "--apply", "--min-python", "3.10", "--check-compile")
    text = project.read("module.c")
    assert "PyMutex_Lock(&_mod_BytesIO_lock)" in text, err
    decl = text.index("static PyMutex _mod_BytesIO_lock;")
    assert decl < text.index("static int init_bytesio") < text.index("PyMutex_Lock(&_mod_BytesIO_lock)")
    assert "compiled" in err or "compiled" in out
