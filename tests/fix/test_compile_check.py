"""The compat include's place in the TU's real include order, and --check-compile compiling like the
build: -Werror=implicit-function-declaration, every TU of a patched folder (unity builds), and the
symbols a fix newly uses present in each target Python."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from extmigrate import pythons
from extmigrate.fix import includes, symbols
from extmigrate.fix.compilecheck import Target, check
from extmigrate.fix.patch import FilePatch

# A unity build: main.c includes part.c, which uses the borrowed API first; Python.h comes in through
# a project header, and an optional header sits in an #ifdef block.
UNITY = {
    "pyproject.toml": '[project]\nname = "u"\nrequires-python = ">=3.10"\n',
    "src/ext.h": "#define PY_SSIZE_T_CLEAN\n#include <Python.h>\n",
    "src/main.c": """\
        #include "ext.h"
        #ifdef _OPENMP
        #include <omp.h>
        #endif
        #include "part.c"

        static PyObject *second(PyObject *self, PyObject *items) {
            PyObject *item = PyList_GetItem(items, 1);
            if (item == NULL)
                return NULL;
            Py_INCREF(item);
            return item;
        }
        static PyMethodDef methods[] = {{"first", first, METH_O, NULL}, {"second", second, METH_O, NULL}, {NULL}};
    """,
    "src/part.c": """\
        /* part of the unity build: included by main.c */
        static PyObject *first(PyObject *self, PyObject *items) {
            PyObject *item = PyList_GetItem(items, 0);
            if (item == NULL)
                return NULL;
            Py_INCREF(item);
            return item;
        }
    """,
}


def _old_headers() -> str:
    """Headers of a GIL build older than 3.13 (where PyList_GetItemRef needs its fallback)."""
    old = [i for i in pythons.with_headers() if (3, 10) <= i.version < (3, 13) and not i.free_threaded]
    if not old or shutil.which("gcc") is None:
        pytest.skip("no gcc or no Python 3.10-3.12 headers (PyList_GetItemRef needs its fallback there)")
    return old[0].include


def _label(include: str) -> str:
    return f"{os.path.basename(include.rstrip('/'))} headers"


def test_unity_build_include_before_first_use_and_checked(project):
    inc = _old_headers()
    project.write(UNITY)
    rc, out, err = project.fix("--select", "FT101", "--check-compile", "--python-headers", inc, "--apply")
    assert "compile check failed" not in err and "nothing written" not in err, err
    assert f"compiled: {os.path.join('src', 'main.c')} ({_label(inc)})" in err
    main = project.read("src/main.c")
    # after the header that brings Python.h, before the #ifdef block and the part that uses the API
    assert main.startswith('#include "ext.h"\n#include "extmigrate_compat.h"\n#ifdef _OPENMP\n')
    assert project.read("src/part.c").startswith(
        '/* part of the unity build: included by main.c */\n#include "extmigrate_compat.h"\n')
    r = subprocess.run(["gcc", "-fsyntax-only", "-Werror=implicit-function-declaration", "-I", inc,
                        "src/main.c"], capture_output=True, text=True, cwd=project.root)
    assert r.returncode == 0, r.stderr


def test_check_compile_catches_the_include_after_the_unity_part(project):
    """The placement an earlier version produced: the include after `#include "part.c"`, whose
    first() already called PyList_GetItemRef: an implicit declaration before 3.13."""
    inc = _old_headers()
    project.write(UNITY)
    project.fix("--select", "FT101", "--apply")
    good = {name: project.read(name).encode() for name in ("src/main.c", "src/part.c")}
    line = b'#include "extmigrate_compat.h"\n'
    bad_main = good["src/main.c"].replace(line, b"").replace(b'#include "part.c"\n',
                                                               b'#include "part.c"\n' + line)
    bad_part = good["src/part.c"].replace(line, b"")
    root = str(project.root)
    patches = [FilePatch(os.path.join(root, "src/main.c"), b"", bad_main),
               FilePatch(os.path.join(root, "src/part.c"), b"", bad_part)]
    checked, failures = check(patches, {}, (3, 10), extra_headers=[inc])
    assert any(f"main.c ({_label(inc)})" in f and "implicit declaration of function" in f
               and "PyList_GetItemRef" in f for f in failures), "\n".join(failures)
    patches = [FilePatch(p.path, b"", good["src/" + os.path.basename(p.path)]) for p in patches]
    checked, failures = check(patches, {}, (3, 10), extra_headers=[inc])
    assert failures == [] and any(f"main.c ({_label(inc)})" in c for c in checked)


def test_unchanged_unity_main_is_compiled_for_its_patched_part(project):
    inc = _old_headers()
    main = UNITY["src/main.c"].replace("PyList_GetItem(items, 1)", "PySequence_GetItem(items, 1)")
    project.write({**UNITY, "src/main.c": main.replace("        Py_INCREF(item);\n", "")})
    rc, diff, err = project.fix("--select", "FT101", "--check-compile", "--python-headers", inc)
    assert "b/src/main.c" not in diff and "b/src/part.c" in diff
    # main.c has no fix of its own but includes the patched part: it is what compiles the part
    assert f"compiled: {os.path.join('src', 'main.c')} ({_label(inc)})" in err, err


@pytest.mark.parametrize("code, expected", [
    # Python.h first: right after it, not after later includes
    ("#include <Python.h>\n#include <string.h>\nint x;\n", 20),
    # the last include is conditional: after the unconditional one
    ('#include "mod.h"\n#ifdef _OPENMP\n#include <omp.h>\n#endif\nint x;\n', 17),
    # an include guard is file scope; no include: after the guard's #define
    ("#ifndef A_H\n#define A_H\nint x;\n#endif\n", 24),
    # an include inside an initializer is not file scope
    ("/* c */\nstatic int t[] = {\n#include \"tab.inc\"\n};\n", 8),
])
def test_include_place(code, expected):
    data = code.encode()
    assert includes.place(data, data.index(b"int x") if b"int x" in data else len(data)) == expected


@pytest.mark.parametrize("code", [
    b"#ifdef WITH_PY\n#include <Python.h>\nint x;\n#endif\n",
    b'#include "config.h"\n#ifdef WITH_PY\n#include <Python.h>\n#endif\nint x;\n',
])
def test_no_place_outside_conditionals_is_a_reason(code):
    assert includes.place(code, code.index(b"int x")) is None


def test_symbols_missing_from_the_target(tmp_path):
    # headers claiming to be 3.13 without the declaration (a vendor's trimmed copy): needs no interpreter
    fake = tmp_path / "python3.13"
    fake.mkdir()
    (fake / "Python.h").write_text(textwrap.dedent("""\
        /* PyList_GetItemRef is not here */
        PyAPI_FUNC(PyObject *) PyList_GetItem(PyObject *, Py_ssize_t);
    """))
    assert symbols.missing({"PyList_GetItemRef"}, [Target((3, 13), str(fake))]) == [
        "PyList_GetItemRef is not declared by the python3.13 headers"]
    # the running interpreter declares and exports what it has
    running = pythons.query(sys.executable)
    if running is not None and running.has_headers:
        assert symbols.missing({"PyList_GetItem"}, [Target(running.version, running.include)]) == []
    here = symbols.exported(sys.executable)
    if here is not None:
        assert "PyList_GetItem" in here
        assert ("PyList_GetItemRef" in here) == (sys.version_info >= (3, 13))


def test_symbols_across_versions():
    """3.13 exports PyList_GetItemRef and 3.12 does not (the one-interpreter case is checked above)."""
    found = {i.version: i for i in pythons.with_headers() if not i.free_threaded}
    new, old = found.get((3, 13)), found.get((3, 12))
    if new is None or old is None:
        pytest.skip("needs Python 3.12 and 3.13 with headers")
    assert symbols.missing({"PyList_GetItemRef", "Py_BEGIN_CRITICAL_SECTION"},
                           [Target((3, 13), new.include)]) == []
    exported = symbols.exported(new.exe)
    if exported is None:
        pytest.skip("nm cannot read the interpreter's symbols")
    assert "PyList_GetItemRef" in exported and "PyList_GetItemRef" not in symbols.exported(old.exe)
