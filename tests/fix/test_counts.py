"""Honest counts: `scan`'s "fixable" is what `fix` does with the same options (late remedies,
conflicts and declarations included), and `fix`'s messages agree with its diff."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[2] / "sample_ext"


def _fixed(err: str) -> int:
    return int(re.search(r"(\d+) finding\(s\) fixable", err).group(1))


def test_scan_counts_what_fix_does(project):
    shutil.copy(SAMPLE / "src" / "legacy" / "_lru.c", project.root / "_lru.c")
    shutil.copy(SAMPLE / "pyproject.toml", project.root / "pyproject.toml")
    rc, report = project.scan()
    m = re.search(r"\((\d+) fixable with `extmigrate fix`, (\d+) with `extmigrate fix --unsafe-fixes`\)",
                  report.splitlines()[-1])
    assert m, report.splitlines()[-1]
    rc, diff, err = project.fix()
    assert _fixed(err) == int(m.group(1))
    rc, diff, err = project.fix("--unsafe-fixes")
    assert _fixed(err) == int(m.group(2))
    assert int(m.group(1)) < int(m.group(2))  # the sample has fixes of both kinds


def test_no_message_about_a_file_the_diff_changes(project):
    project.write({"x.c": """\
        #ifdef WITH_PYTHON
        #include <Python.h>
        static PyObject *first(PyObject *self, PyObject *items) {
            PyObject *item = PyList_GetItem(items, 0);
            if (item == NULL)
                return NULL;
            Py_INCREF(item);
            return item;
        }
        #endif
    """})
    rc, diff, err = project.fix("--select", "FT101", "-D", "WITH_PYTHON", "--min-python", "3.10")
    assert "x.c" not in diff and "not changed" not in err
    assert ("x.c:4:22: FT101 not fixed: extmigrate_compat.h cannot be included in x.c: no place at "
            "file scope outside #if blocks before the first use") in err
    assert "0 finding(s) fixable, 1 left; 0 file(s) to change" in err
    (project.root / "pyproject.toml").write_text('[project]\nrequires-python = ">=3.10"\n')
    rc, report = project.scan("--select", "FT101", "-D", "WITH_PYTHON")
    assert report.splitlines()[-1] == "Found 1 finding in 1 file."


def test_a_fix_dropped_for_the_include_still_blocks_the_declaration(project):
    project.write({"x.c": """\
        #ifdef WITH_PYTHON
        #include <Python.h>
        static PyObject *first(PyObject *self, PyObject *items) {
            PyObject *item = PyList_GetItem(items, 0);
            if (item == NULL)
                return NULL;
            Py_INCREF(item);
            return item;
        }
        static PyMethodDef methods[] = {{"first", first, METH_O, NULL}, {NULL}};
        static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "x", NULL, -1, methods};
        PyMODINIT_FUNC PyInit_x(void) { return PyModule_Create(&def); }
        #endif
    """})
    rc, diff, err = project.fix("--select", "FT101,FT202", "-D", "WITH_PYTHON", "--min-python", "3.10")
    assert diff == ""
    assert "FT202 not fixed: not declared GIL-free: 1 finding(s) left are races that block it " \
           "(FT101 x.c:4 " in err and "(borrowed-list-item))" in err


def test_merged_releases_and_overlaps_counted_as_fix_does(project):
    """Releases merged before one return count as fixed; a true overlap left for the next run does
    not (tests/fix/test_merged_releases.py's module: 6 of its 7 FT102)."""
    from tests.fix.test_merged_releases import OPTS

    project.write({"opts.c": OPTS})
    rc, report = project.scan("--select", "FT102")
    assert "(6 with `extmigrate fix --unsafe-fixes`)" in report.splitlines()[-1], report.splitlines()[-1]
    rc, diff, err = project.fix("--select", "FT102", "--min-python", "3.10", "--unsafe-fixes")
    assert _fixed(err) == 6
