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
