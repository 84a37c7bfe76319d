"""Code the migration does not own is never edited: TUs without Python.h and vendored libraries."""

from __future__ import annotations

import textwrap

from extmigrate.fix import owned

MODULE = """\
    #include <Python.h>
    #include "../third_party/zz/zz.h"

    static long calls;

    static PyObject *count(PyObject *self, PyObject *arg) {
        calls++;
        return PyLong_FromLong(zz_next());
    }
    static PyMethodDef methods[] = {{"count", count, METH_O, NULL}, {NULL}};
"""
# A bundled C library: static state and a lazy fill, no Python.h (its findings are real, its fix
# is not ours to make).
LIBRARY = """\
    #include "zz.h"
    static long state;
    static char *table;
    long zz_next(void) {
        state++;
        if (table == 0) { static char buf[16]; table = buf; }
        return state;
    }
"""


def test_vendored_library_left_alone_with_a_note(project):
    project.write({"setup.py": "from setuptools import setup\n", "src/mod.c": MODULE,
                   "third_party/zz/zz.h": "long zz_next(void);\n", "third_party/zz/zz.c": LIBRARY})
    rc, out, err = project.fix("--apply", "--unsafe-fixes", "--select", "FT301,FT302")
    assert project.read("third_party/zz/zz.c") == textwrap.dedent(LIBRARY)
    assert "EXTMIGRATE_ATOMIC_ADD(&calls, 1);" in project.read("src/mod.c")
    assert "third_party/zz/zz.c:2:1: FT301 not fixed: vendored third-party code (a third_party/ " \
           "folder): left alone" in err
    assert "note: third_party: vendored third-party code (a third_party/ folder); 2 finding(s) " \
           "there left alone (FT301, FT302)" in err
    assert "1 finding(s) fixed, 2 left" in err


def test_file_without_python_h_gets_no_python_api(project):
    project.write({"setup.py": "", "src/mod.c": MODULE.replace("../third_party/zz/", ""),
                   "src/zz.h": "long zz_next(void);\n", "src/zz.c": LIBRARY})
    rc, out, err = project.fix("--apply", "--unsafe-fixes", "--select", "FT301,FT302")
    assert project.read("src/zz.c") == textwrap.dedent(LIBRARY)
    assert "src/zz.c:6:5: FT302 not fixed: its translation unit does not include Python.h" in err
    assert "EXTMIGRATE_ATOMIC_ADD(&calls, 1);" in project.read("src/mod.c")


def test_library_missing_its_generated_header_is_not_extension_code(project):
    """A C library whose build generates config.h: the include is not found where the scan runs,
    and nothing in the file names Python, so it is still not the migration's code."""
    project.write({"setup.py": "", "src/mod.c": MODULE.replace("../third_party/zz/", ""),
                   "src/zz.h": "long zz_next(void);\n",
                   "src/zz.c": '#include "config.h"\n' + textwrap.dedent(LIBRARY)})
    rc, out, err = project.fix("--apply", "--unsafe-fixes", "--select", "FT301,FT302")
    assert "src/zz.c:7:5: FT302 not fixed: its translation unit does not include Python.h" in err
    assert "EXTMIGRATE_ATOMIC_ADD(&calls, 1);" in project.read("src/mod.c")


def test_python_h_through_a_project_header_is_extension_code(project):
    project.write({"setup.py": "", "src/ext.h": "#include <Python.h>\n",
                   "src/counter.c": '#include "ext.h"\nstatic long n;\n'
                                    'PyObject *tick(PyObject *s, PyObject *a) { n++; Py_RETURN_NONE; }\n'})
    rc, out, err = project.fix("--apply", "--select", "FT301")
    assert "EXTMIGRATE_ATOMIC_ADD(&n, 1);" in project.read("src/counter.c")


def test_vendored_by_license_build_or_name(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    (tmp_path / "LICENSE").write_text("BSD, the project's own\n")
    files = {
        "src/ext/mod.c": "", "src/ext/LICENSE": "BSD, the project's own\n",  # same license: ours
        "src/blosc/blosc.c": "", "src/blosc/LICENSE.txt": "BSD, Blosc authors\n",
        "src/simd/lib/codec.c": "", "src/simd/CMakeLists.txt": "add_library(simd STATIC codec.c)\n",
        "src/bind/bind.cpp": "", "src/bind/CMakeLists.txt": "pybind11_add_module(_bind bind.cpp)\n",
        "deps/zlib/inflate.c": "",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    found = {name: owned.vendored(str(tmp_path / name)) for name in files if name.endswith((".c", ".cpp"))}
    assert found[("src/ext/mod.c")] is None
    assert found["src/bind/bind.cpp"] is None
    assert found["src/blosc/blosc.c"] == (str(tmp_path / "src/blosc"), "its own license file (LICENSE.txt)")
    assert found["src/simd/lib/codec.c"] == (str(tmp_path / "src/simd"),
                                             "its own build without Python (CMakeLists.txt)")
    assert found["deps/zlib/inflate.c"] == (str(tmp_path / "deps"), "a deps/ folder")


def test_a_license_below_a_project_without_one_is_its_own(tmp_path):
    (tmp_path / "setup.py").write_text("")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "LICENSE").write_text("MIT\n")
    (tmp_path / "src" / "mod.c").write_text("")
    assert owned.vendored(str(tmp_path / "src" / "mod.c")) is None
