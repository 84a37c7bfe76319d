/*
 * _lru.c - a small least-recently-used cache for ftsample.
 *
 * This is the legacy (GIL-reliant) implementation: it keeps module-wide
 * statistics in C globals, reuses a static scratch buffer and relies on the
 * GIL to serialise every method.  The cache keeps its entries in a dict
 * (key -> value) and its recency order in a list of keys, least recently
 * used first.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "extmigrate_compat.h"
#include <structmember.h>
#include <stddef.h>
#include <string.h>

#define SCRATCH_SIZE 256
#define DEFAULT_MAXSIZE 128

/* Module-wide statistics. */
static Py_ssize_t total_hits = 0;   /* cache hits over all LRUCache objects */
static Py_ssize_t call_count = 0;   /* calls of the module-level helpers */

/* Scratch space for tokenize() and LRUCache.__repr__. */
static EXTMIGRATE_THREAD_LOCAL char scratch[SCRATCH_SIZE];

/* Interned dict keys for stats(), created on first use. */
static PyMutex str_maxsize_lock;  /* guards str_maxsize (extmigrate) */
static PyObject *str_maxsize = NULL;
static PyMutex str_currsize_lock;  /* guards str_currsize (extmigrate) */
static PyObject *str_currsize = NULL;

/* Default separator of join_keys(), created by PyInit__lru. */
static PyObject *default_sep = NULL;

/* Bytes that end a word in tokenize(). */
static const char separators[] = " \t\n\r\f\v.,;:!?\"'()[]{}<>";

typedef struct {
    PyObject_HEAD
    PyObject *data;        /* dict: key -> value */
    PyObject *order;       /* list of keys, least recently used first */
    PyObject *on_evict;    /* callable(key, value) or NULL */
    PyObject *keys_cache;  /* last list returned by keys() */
    Py_ssize_t maxsize;
    Py_ssize_t hits;
    Py_ssize_t misses;
    Py_ssize_t evictions;
} LRUCacheObject;

/* Counters reported by stats(), by name. */
static const struct {
    const char *name;
    size_t offset;
} counter_fields[] = {
    {"hits", offsetof(LRUCacheObject, hits)},
    {"misses", offsetof(LRUCacheObject, misses)},
    {"evictions", offsetof(LRUCacheObject, evictions)},
};

static PyTypeObject LRUCache_Type;

static PyObject *
lru_alloc(PyTypeObject *type, Py_ssize_t maxsize, PyObject *on_evict)
{
    LRUCacheObject *self;

    if (maxsize < 1) {
        PyErr_SetString(PyExc_ValueError, "maxsize must be at least 1");
        return NULL;
    }
    if (on_evict != NULL && !PyCallable_Check(on_evict)) {
        PyErr_SetString(PyExc_TypeError, "on_evict must be callable or None");
        return NULL;
    }
    self = (LRUCacheObject *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->data = PyDict_New();
    self->order = PyList_New(0);
    if (self->data == NULL || self->order == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    Py_XINCREF(on_evict);
    self->on_evict = on_evict;
    self->maxsize = maxsize;
    return (PyObject *)self;
}

static PyObject *
LRUCache_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"maxsize", "on_evict", NULL};
    Py_ssize_t maxsize = DEFAULT_MAXSIZE;
    PyObject *on_evict = NULL;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|nO:LRUCache", kwlist,
                                     &maxsize, &on_evict))
        return NULL;
    if (on_evict == Py_None)
        on_evict = NULL;
    return lru_alloc(type, maxsize, on_evict);
}

static int
LRUCache_traverse(LRUCacheObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->data);
    Py_VISIT(self->order);
    Py_VISIT(self->on_evict);
    Py_VISIT(self->keys_cache);
    return 0;
}

static int
LRUCache_clear_refs(LRUCacheObject *self)
{
    Py_CLEAR(self->data);
    Py_CLEAR(self->order);
    Py_CLEAR(self->on_evict);
    Py_CLEAR(self->keys_cache);
    return 0;
}

static void
LRUCache_dealloc(LRUCacheObject *self)
{
    PyObject_GC_UnTrack(self);
    LRUCache_clear_refs(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Remove key from the recency list; with relink, append it again as the
   most recently used key.  A key that is not in the list is ignored. */
static int
lru_unlink(LRUCacheObject *self, PyObject *key, int relink)
{
    Py_ssize_t i, last = PyList_GET_SIZE(self->order) - 1;

    { EXTMIGRATE_CRITICAL_SECTION extmigrate_cs; EXTMIGRATE_CS_BEGIN(extmigrate_cs, self->order);
    for (i = last; i >= 0; i--) {
        PyObject *item = PyList_GET_ITEM(self->order, i);
        int rc = PyObject_RichCompareBool(item, key, Py_EQ);
        if (rc < 0)
            { EXTMIGRATE_CS_END(extmigrate_cs); return -1; }
        if (rc == 0)
            continue;
        if (relink && i == last)
            { EXTMIGRATE_CS_END(extmigrate_cs); return 0; }
        Py_INCREF(item);
        rc = PySequence_DelItem(self->order, i);
        if (rc == 0 && relink)
            rc = PyList_Append(self->order, item);
        Py_DECREF(item);
        { EXTMIGRATE_CS_END(extmigrate_cs); return rc; }
    }
    EXTMIGRATE_CS_END(extmigrate_cs); }
    return 0;
}

/* Drop the least recently used entry, telling on_evict about it. */
static int
lru_evict_oldest(LRUCacheObject *self)
{
    PyObject *oldest = NULL, *value = NULL, *res;

    oldest = PyList_GetItemRef(self->order, 0);
    if (oldest == NULL)
        return -1;
    (void)PyDict_GetItemRef(self->data, oldest, &value);
    if (value == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetObject(PyExc_KeyError, oldest);
        { Py_XDECREF(oldest); return -1; }
    }
    if (self->on_evict != NULL) {
        res = PyObject_CallFunctionObjArgs(self->on_evict, oldest, value, NULL);
        if (res == NULL)
            { Py_XDECREF(oldest); Py_XDECREF(value); return -1; }
        Py_DECREF(res);
    }
    if (PyDict_DelItem(self->data, oldest) < 0)
        { Py_XDECREF(oldest); Py_XDECREF(value); return -1; }
    self->evictions++;
    { int extmigrate_ret = PySequence_DelItem(self->order, 0); Py_XDECREF(oldest); Py_XDECREF(value); return extmigrate_ret; }
}

PyDoc_STRVAR(get_doc,
"get(key, default=None)\n\n"
"Return the value for key and mark it as most recently used.");

static PyObject *
LRUCache_get_impl(LRUCacheObject *self, PyObject *args)
{
    PyObject *key, *value = NULL, *dflt = Py_None;

    if (!PyArg_ParseTuple(args, "O|O:get", &key, &dflt))
        return NULL;
    (void)PyDict_GetItemRef(self->data, key, &value);
    if (value == NULL) {
        if (PyErr_Occurred())
            return NULL;
        self->misses++;
        Py_INCREF(dflt);
        return dflt;
    }
    self->hits++;
    EXTMIGRATE_ATOMIC_ADD(&total_hits, 1);
    if (lru_unlink(self, key, 1) < 0)
        { Py_XDECREF(value); return NULL; }
    return value;
}

static PyObject *
LRUCache_get(LRUCacheObject *self, PyObject *args)
{
    PyObject *extmigrate_result;
    Py_BEGIN_CRITICAL_SECTION(self);
    extmigrate_result = LRUCache_get_impl(self, args);
    Py_END_CRITICAL_SECTION();
    return extmigrate_result;
}

PyDoc_STRVAR(put_doc,
"put(key, value)\n\n"
"Store value under key, evicting the least recently used entry when full.");

static PyObject *
LRUCache_put_impl(LRUCacheObject *self, PyObject *args)
{
    PyObject *key, *value;
    int present;

    if (PyTuple_GET_SIZE(args) != 2) {
        PyErr_Format(PyExc_TypeError, "put() takes exactly 2 arguments (%zd given)",
                     PyTuple_GET_SIZE(args));
        return NULL;
    }
    key = PyTuple_GET_ITEM(args, 0);
    value = PyTuple_GET_ITEM(args, 1);

    present = PyDict_Contains(self->data, key);
    if (present < 0)
        return NULL;
    if (present) {
        if (PyDict_SetItem(self->data, key, value) < 0)
            return NULL;
        if (lru_unlink(self, key, 1) < 0)
            return NULL;
        Py_RETURN_NONE;
    }
    while (PyDict_GET_SIZE(self->data) >= self->maxsize) {
        if (lru_evict_oldest(self) < 0)
            return NULL;
    }
    if (PyList_Append(self->order, key) < 0)
        return NULL;
    if (PyDict_SetItem(self->data, key, value) < 0) {
        /* Undo the append; deleting the last list item cannot fail. */
        PyList_SetSlice(self->order, PyList_GET_SIZE(self->order) - 1,
                        PY_SSIZE_T_MAX, NULL);
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
LRUCache_put(LRUCacheObject *self, PyObject *args)
{
    PyObject *extmigrate_result;
    Py_BEGIN_CRITICAL_SECTION(self);
    extmigrate_result = LRUCache_put_impl(self, args);
    Py_END_CRITICAL_SECTION();
    return extmigrate_result;
}

PyDoc_STRVAR(peek_doc,
"peek(key)\n\n"
"Return the value for key without touching its recency or the statistics.\n"
"Raise KeyError if key is not cached.");

static PyObject *
LRUCache_peek(LRUCacheObject *self, PyObject *key)
{
    PyObject *value;
    if (PyDict_GetItemRef(self->data, key, &value) < 0) {
        PyErr_Clear();
    }

    if (value == NULL) {
        PyErr_SetObject(PyExc_KeyError, key);
        return NULL;
    }
    return value;
}

PyDoc_STRVAR(keys_doc,
"keys()\n\n"
"Return the cached keys as a list, least recently used first.");

static PyObject *
LRUCache_keys_impl(LRUCacheObject *self, PyObject *Py_UNUSED(ignored))
{
    /* Nobody else holds the list we returned last time: refill it in place. */
    if (self->keys_cache != NULL && PyUnstable_Object_IsUniquelyReferenced(self->keys_cache)) {
        if (PyList_SetSlice(self->keys_cache, 0, PY_SSIZE_T_MAX, self->order) < 0)
            return NULL;
    }
    else {
        PyObject *old = self->keys_cache;
        self->keys_cache = PyList_GetSlice(self->order, 0, PY_SSIZE_T_MAX);
        Py_XDECREF(old);
        if (self->keys_cache == NULL)
            return NULL;
    }
    Py_INCREF(self->keys_cache);
    return self->keys_cache;
}

static PyObject *
LRUCache_keys(LRUCacheObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *extmigrate_result;
    Py_BEGIN_CRITICAL_SECTION(self);
    extmigrate_result = LRUCache_keys_impl(self, _unused_ignored);
    Py_END_CRITICAL_SECTION();
    return extmigrate_result;
}

PyDoc_STRVAR(prune_doc,
"prune(predicate)\n\n"
"Remove every entry for which predicate(key, value) is true.\n"
"Return the number of removed entries.");

static PyObject *
LRUCache_prune_impl(LRUCacheObject *self, PyObject *predicate)
{
    PyObject *key, *value, *doomed;
    Py_ssize_t pos = 0, i, n;

    doomed = PyList_New(0);
    if (doomed == NULL)
        return NULL;
    { EXTMIGRATE_CRITICAL_SECTION extmigrate_cs; EXTMIGRATE_CS_BEGIN(extmigrate_cs, self->data);
    while (PyDict_Next(self->data, &pos, &key, &value)) {
        PyObject *res = PyObject_CallFunctionObjArgs(predicate, key, value, NULL);
        int truth;
        if (res == NULL)
            { EXTMIGRATE_CS_END(extmigrate_cs); goto error; }
        truth = PyObject_IsTrue(res);
        Py_DECREF(res);
        if (truth < 0)
            { EXTMIGRATE_CS_END(extmigrate_cs); goto error; }
        if (truth && PyList_Append(doomed, key) < 0)
            { EXTMIGRATE_CS_END(extmigrate_cs); goto error; }
    }
    EXTMIGRATE_CS_END(extmigrate_cs); }
    n = PyList_GET_SIZE(doomed);
    for (i = 0; i < n; i++) {
        PyObject *k = PyList_GET_ITEM(doomed, i);
        if (PyDict_DelItem(self->data, k) < 0 || lru_unlink(self, k, 0) < 0)
            goto error;
    }
    Py_DECREF(doomed);
    return PyLong_FromSsize_t(n);

error:
    Py_DECREF(doomed);
    return NULL;
}

static PyObject *
LRUCache_prune(LRUCacheObject *self, PyObject *predicate)
{
    PyObject *extmigrate_result;
    Py_BEGIN_CRITICAL_SECTION(self);
    extmigrate_result = LRUCache_prune_impl(self, predicate);
    Py_END_CRITICAL_SECTION();
    return extmigrate_result;
}

PyDoc_STRVAR(clear_doc,
"clear()\n\n"
"Remove all entries.  The statistics are kept.");

static PyObject *
LRUCache_clear_impl(LRUCacheObject *self, PyObject *Py_UNUSED(ignored))
{
    PyDict_Clear(self->data);
    if (PyList_SetSlice(self->order, 0, PY_SSIZE_T_MAX, NULL) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
LRUCache_clear(LRUCacheObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *extmigrate_result;
    Py_BEGIN_CRITICAL_SECTION(self);
    extmigrate_result = LRUCache_clear_impl(self, _unused_ignored);
    Py_END_CRITICAL_SECTION();
    return extmigrate_result;
}

static int
set_stat(PyObject *stats, PyObject *name, Py_ssize_t value)
{
    PyObject *v = PyLong_FromSsize_t(value);
    int rc;

    if (v == NULL)
        return -1;
    rc = PyDict_SetItem(stats, name, v);
    Py_DECREF(v);
    return rc;
}

PyDoc_STRVAR(stats_doc,
"stats()\n\n"
"Return a dict with hits, misses, evictions, maxsize and currsize.");

static PyObject *
LRUCache_stats(LRUCacheObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *stats;
    size_t k;

    PyMutex_Lock(&str_maxsize_lock);
    if (str_maxsize == NULL) {
        str_maxsize = PyUnicode_InternFromString("maxsize");
        if (str_maxsize == NULL)
            { PyMutex_Unlock(&str_maxsize_lock); return NULL; }
    }
    PyMutex_Unlock(&str_maxsize_lock);
    PyMutex_Lock(&str_currsize_lock);
    if (str_currsize == NULL) {
        str_currsize = PyUnicode_InternFromString("currsize");
        if (str_currsize == NULL)
            { PyMutex_Unlock(&str_currsize_lock); return NULL; }
    }
    PyMutex_Unlock(&str_currsize_lock);
    stats = PyDict_New();
    if (stats == NULL)
        return NULL;
    for (k = 0; k < Py_ARRAY_LENGTH(counter_fields); k++) {
        Py_ssize_t value = *(Py_ssize_t *)((char *)self + counter_fields[k].offset);
        PyObject *v = PyLong_FromSsize_t(value);
        if (v == NULL || PyDict_SetItemString(stats, counter_fields[k].name, v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(stats);
            return NULL;
        }
        Py_DECREF(v);
    }
    if (set_stat(stats, str_maxsize, self->maxsize) < 0 ||
        set_stat(stats, str_currsize, PyDict_GET_SIZE(self->data)) < 0) {
        Py_DECREF(stats);
        return NULL;
    }
    return stats;
}

static Py_ssize_t
LRUCache_length(LRUCacheObject *self)
{
    return PyDict_GET_SIZE(self->data);
}

static int
LRUCache_contains(LRUCacheObject *self, PyObject *key)
{
    return PyDict_Contains(self->data, key);
}

static PyObject *
LRUCache_repr_impl(LRUCacheObject *self)
{
    snprintf(scratch, sizeof(scratch),
             "<LRUCache maxsize=%zd currsize=%zd hits=%zd misses=%zd>",
             self->maxsize, PyDict_GET_SIZE(self->data), self->hits, self->misses);
    return PyUnicode_FromString(scratch);
}

static PyObject *
LRUCache_repr(LRUCacheObject *self)
{
    PyObject *extmigrate_result;
    Py_BEGIN_CRITICAL_SECTION(self);
    extmigrate_result = LRUCache_repr_impl(self);
    Py_END_CRITICAL_SECTION();
    return extmigrate_result;
}

static PyMethodDef LRUCache_methods[] = {
    {"get", (PyCFunction)LRUCache_get, METH_VARARGS, get_doc},
    {"put", (PyCFunction)LRUCache_put, METH_VARARGS, put_doc},
    {"peek", (PyCFunction)LRUCache_peek, METH_O, peek_doc},
    {"keys", (PyCFunction)LRUCache_keys, METH_NOARGS, keys_doc},
    {"prune", (PyCFunction)LRUCache_prune, METH_O, prune_doc},
    {"clear", (PyCFunction)LRUCache_clear, METH_NOARGS, clear_doc},
    {"stats", (PyCFunction)LRUCache_stats, METH_NOARGS, stats_doc},
    {NULL, NULL, 0, NULL}
};

static PyMemberDef LRUCache_members[] = {
    {"maxsize", T_PYSSIZET, offsetof(LRUCacheObject, maxsize), READONLY,
     "maximum number of entries"},
    {NULL, 0, 0, 0, NULL}
};

static PySequenceMethods LRUCache_as_sequence = {
    .sq_length = (lenfunc)LRUCache_length,
    .sq_contains = (objobjproc)LRUCache_contains,
};

PyDoc_STRVAR(LRUCache_doc,
"LRUCache(maxsize=128, on_evict=None)\n\n"
"A mapping of at most maxsize entries that drops the least recently used\n"
"entry when full, calling on_evict(key, value) for it if given.");

static PyTypeObject LRUCache_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "ftsample._lru.LRUCache",
    .tp_basicsize = sizeof(LRUCacheObject),
    .tp_dealloc = (destructor)LRUCache_dealloc,
    .tp_repr = (reprfunc)LRUCache_repr,
    .tp_as_sequence = &LRUCache_as_sequence,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = LRUCache_doc,
    .tp_traverse = (traverseproc)LRUCache_traverse,
    .tp_clear = (inquiry)LRUCache_clear_refs,
    .tp_methods = LRUCache_methods,
    .tp_members = LRUCache_members,
    .tp_new = LRUCache_new,
};

static int
is_separator(char c)
{
    return memchr(separators, c, sizeof(separators) - 1) != NULL;
}

PyDoc_STRVAR(tokenize_doc,
"tokenize(text)\n\n"
"Split text at whitespace and punctuation into ASCII-lowercased words.\n"
"Words longer than SCRATCH_SIZE - 1 bytes (UTF-8) are truncated.");

static PyObject *
lru_tokenize(PyObject *module, PyObject *arg)
{
    const char *text;
    Py_ssize_t len, i = 0;
    PyObject *words;

    EXTMIGRATE_ATOMIC_ADD(&call_count, 1);
    if (!PyUnicode_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "tokenize() argument must be str, not %.100s",
                     Py_TYPE(arg)->tp_name);
        return NULL;
    }
    text = PyUnicode_AsUTF8AndSize(arg, &len);
    if (text == NULL)
        return NULL;
    words = PyList_New(0);
    if (words == NULL)
        return NULL;
    while (i < len) {
        Py_ssize_t start, wlen, j;
        PyObject *word;

        while (i < len && is_separator(text[i]))
            i++;
        start = i;
        while (i < len && !is_separator(text[i]))
            i++;
        wlen = i - start;
        if (wlen == 0)
            break;
        if (wlen > SCRATCH_SIZE - 1) {
            /* Truncate, but never inside a UTF-8 sequence. */
            wlen = SCRATCH_SIZE - 1;
            while (wlen > 0 && ((unsigned char)text[start + wlen] & 0xC0) == 0x80)
                wlen--;
        }
        memcpy(scratch, text + start, (size_t)wlen);
        for (j = 0; j < wlen; j++) {
            if (scratch[j] >= 'A' && scratch[j] <= 'Z')
                scratch[j] += 'a' - 'A';
        }
        word = PyUnicode_DecodeUTF8(scratch, wlen, "strict");
        if (word == NULL || PyList_Append(words, word) < 0) {
            Py_XDECREF(word);
            Py_DECREF(words);
            return NULL;
        }
        Py_DECREF(word);
    }
    return words;
}

PyDoc_STRVAR(join_keys_doc,
"join_keys(keys, sep=', ')\n\n"
"Return str(k) for every k in the list keys, joined by sep.");

static PyObject *
lru_join_keys(PyObject *module, PyObject *args, PyObject *kwargs)
{
    PyObject *keys, *sep = default_sep, *parts, *result = NULL;
    const char *sep_utf8;
    char *buf = NULL, *p;
    Py_ssize_t i, n, len, sep_len, total = 0;

    EXTMIGRATE_ATOMIC_ADD(&call_count, 1);
    if (!PyArg_ParseTuple(args, "O!|U:join_keys", &PyList_Type, &keys, &sep))
        return NULL;
    if (kwargs != NULL && PyDict_GET_SIZE(kwargs) > 0) {
        PyObject *kw_sep = PyDict_GetItemString(kwargs, "sep");
        if (kw_sep == NULL || PyDict_GET_SIZE(kwargs) > 1 || PyTuple_GET_SIZE(args) > 1) {
            PyErr_SetString(PyExc_TypeError,
                            "join_keys() accepts only one keyword argument, 'sep'");
            return NULL;
        }
        if (!PyUnicode_Check(kw_sep)) {
            PyErr_SetString(PyExc_TypeError, "join_keys() sep must be str");
            return NULL;
        }
        sep = kw_sep;
    }
    sep_utf8 = PyUnicode_AsUTF8AndSize(sep, &sep_len);
    if (sep_utf8 == NULL)
        return NULL;

    n = PyList_GET_SIZE(keys);
    parts = PyList_New(n);
    if (parts == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        PyObject *item = PyList_GetItemRef(keys, i);
        PyObject *s;
        if (item == NULL)
            goto done;
        s = PyObject_Str(item);
        if (s == NULL)
            { Py_XDECREF(item); goto done; }
        PyList_SET_ITEM(parts, i, s);
        if (PyUnicode_AsUTF8AndSize(s, &len) == NULL)
            { Py_XDECREF(item); goto done; }
        total += len + (i > 0 ? sep_len : 0);
        Py_XDECREF(item);
    }

    buf = (char *)PyMem_Malloc((size_t)total + 1);
    if (buf == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    p = buf;
    for (i = 0; i < n; i++) {
        const char *u = PyUnicode_AsUTF8AndSize(PyList_GET_ITEM(parts, i), &len);
        if (i > 0) {
            memcpy(p, sep_utf8, (size_t)sep_len);
            p += sep_len;
        }
        memcpy(p, u, (size_t)len);
        p += len;
    }
    result = PyUnicode_DecodeUTF8(buf, p - buf, "strict");

done:
    PyMem_Free(buf);
    Py_DECREF(parts);
    return result;
}

PyDoc_STRVAR(from_config_doc,
"from_config(config)\n\n"
"Create an LRUCache from a dict with optional 'maxsize' and 'on_evict' keys.");

static PyObject *
lru_from_config(PyObject *module, PyObject *config)
{
    PyObject *size_obj = NULL, *callback = NULL;
    Py_ssize_t maxsize = DEFAULT_MAXSIZE;

    EXTMIGRATE_ATOMIC_ADD(&call_count, 1);
    if (!PyDict_Check(config)) {
        PyErr_SetString(PyExc_TypeError, "from_config() argument must be a dict");
        return NULL;
    }
    if (PyDict_GetItemStringRef(config, "maxsize", &size_obj) < 0) {
        PyErr_Clear();
    }
    if (PyDict_GetItemStringRef(config, "on_evict", &callback) < 0) {
        PyErr_Clear();
    }
    if (size_obj != NULL) {
        maxsize = PyNumber_AsSsize_t(size_obj, PyExc_OverflowError);
        if (maxsize == -1 && PyErr_Occurred())
            { Py_XDECREF(size_obj); Py_XDECREF(callback); return NULL; }
    }
    if (callback == Py_None)
        Py_CLEAR(callback);
    { PyObject *extmigrate_ret = lru_alloc(&LRUCache_Type, maxsize, callback); Py_XDECREF(size_obj); Py_XDECREF(callback); return extmigrate_ret; }
}

PyDoc_STRVAR(hits_doc,
"hits()\n\n"
"Return the number of cache hits over all LRUCache objects.");

static PyObject *
lru_hits(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromSsize_t(EXTMIGRATE_ATOMIC_LOAD(&total_hits));
}

PyDoc_STRVAR(calls_doc,
"calls()\n\n"
"Return the number of calls of tokenize(), join_keys() and from_config().");

static PyObject *
lru_calls(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromSsize_t(EXTMIGRATE_ATOMIC_LOAD(&call_count));
}

static PyMethodDef lru_functions[] = {
    {"tokenize", (PyCFunction)lru_tokenize, METH_O, tokenize_doc},
    {"join_keys", (PyCFunction)(void (*)(void))lru_join_keys,
     METH_VARARGS | METH_KEYWORDS, join_keys_doc},
    {"from_config", (PyCFunction)lru_from_config, METH_O, from_config_doc},
    {"hits", (PyCFunction)lru_hits, METH_NOARGS, hits_doc},
    {"calls", (PyCFunction)lru_calls, METH_NOARGS, calls_doc},
    {NULL, NULL, 0, NULL}
};

PyDoc_STRVAR(module_doc, "A small LRU cache and text helpers (legacy, GIL-reliant).");

static struct PyModuleDef lru_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_lru",
    .m_doc = module_doc,
    .m_size = -1,
    .m_methods = lru_functions,
};

PyMODINIT_FUNC
PyInit__lru(void)
{
    PyObject *m;

    if (PyType_Ready(&LRUCache_Type) < 0)
        return NULL;
    default_sep = PyUnicode_InternFromString(", ");
    if (default_sep == NULL)
        return NULL;
    m = PyModule_Create(&lru_module);
    if (m == NULL)
        return NULL;
#if defined(Py_GIL_DISABLED) && PY_VERSION_HEX >= 0x030D0000
    PyUnstable_Module_SetGIL(m, Py_MOD_GIL_NOT_USED);
#endif
    Py_INCREF(&LRUCache_Type);
    if (PyModule_AddObject(m, "LRUCache", (PyObject *)&LRUCache_Type) < 0) {
        Py_DECREF(&LRUCache_Type);
        Py_DECREF(m);
        return NULL;
    }
    if (PyModule_AddIntConstant(m, "SCRATCH_SIZE", SCRATCH_SIZE) < 0 ||
        PyModule_AddIntConstant(m, "DEFAULT_MAXSIZE", DEFAULT_MAXSIZE) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
