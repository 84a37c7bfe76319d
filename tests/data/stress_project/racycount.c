/* A module-wide counter bumped without a lock: what `extmigrate stress` should catch. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static long counter = 0;

static PyObject *
bump(PyObject *module, PyObject *arg)
{
    long i, n = PyLong_AsLong(arg);

    if (n == -1 && PyErr_Occurred())
        return NULL;
    for (i = 0; i < n; i++)
        counter++;
    Py_RETURN_NONE;
}

static PyObject *
count(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromLong(counter);
}

static PyMethodDef methods[] = {
    {"bump", bump, METH_O, "add n to the counter, one at a time"},
    {"count", count, METH_NOARGS, "the counter"},
    {NULL, NULL, 0, NULL}
};

static PyModuleDef_Slot slots[] = {
#ifdef Py_mod_gil
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL}
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "racycount", NULL, 0, methods, slots, NULL, NULL, NULL
};

PyMODINIT_FUNC
PyInit_racycount(void)
{
    return PyModuleDef_Init(&module);
}
