"""FT513 limited-api: C defines and build files read as text, never run."""

from __future__ import annotations


def _where(res):
    return sorted((f.path.rsplit("/", 1)[-1], f.line, f.column, f.symbol) for f in res.findings)


def test_c_define_and_guarded_define(scan_c):
    res = scan_c({
        "a.c": """
            #define Py_LIMITED_API 0x03090000
            #include <Python.h>
            """,
        "b.c": """
            /* #define Py_LIMITED_API in a comment */
            #if !defined(Py_GIL_DISABLED)
            #  define Py_LIMITED_API 0x03090000
            #endif
            #include <Python.h>
            """,
        "c.h": """
            #ifndef Py_LIMITED_API
              #define Py_LIMITED_API 3
            #endif
            """,
    }, select=["FT513"])
    assert _where(res) == [("a.c", 2, 9, "Py_LIMITED_API"), ("c.h", 3, 11, "Py_LIMITED_API")]


def test_build_files(scan_c, tmp_path):
    files = {
        "src/m.c": "int x;\n",
        "setup.py": """
            import sysconfig
            from setuptools import Extension, setup
            FREE = sysconfig.get_config_var("Py_GIL_DISABLED")
            limited = not FREE
            if "Py_LIMITED_API" in __import__("os").environ:
                pass
            setup(
                ext_modules=[
                    Extension("a", ["a.c"], py_limited_api=True,
                              define_macros=[("Py_LIMITED_API", "0x03090000")]),
                    Extension("b", ["b.c"], py_limited_api=limited),
                    Extension("c", ["c.c"], py_limited_api=False),
                ],
                options={"bdist_wheel": {"py_limited_api": "cp39"}},
            )
            if not FREE:
                setup(options={"bdist_wheel": {"py_limited_api": "cp39"}})
            """,
        "setup.cfg": "[bdist_wheel]\npy_limited_api = cp39\n\n[other]\npy_limited_api = false\n",
        "pyproject.toml": """
            [tool.scikit-build]
            wheel.py-api = "cp39"   # scikit-build-core ignores this on free-threaded builds
            [[tool.setuptools.ext-modules]]
            name = "m"
            py-limited-api = true
            """,
        "CMakeLists.txt": """
            python_add_library(a MODULE USE_SABI 3.9 WITH_SOABI a.c)
            python_add_library(b MODULE USE_SABI ${SKBUILD_SABI_VERSION} WITH_SOABI b.c)
            # target_compile_definitions(a PRIVATE Py_LIMITED_API=0x03090000)
            if(NOT Py_GIL_DISABLED)
              target_compile_definitions(b PRIVATE Py_LIMITED_API=0x03090000)
            endif()
            """,
    }
    res = scan_c(files, select=["FT513"])
    assert _where(res) == [
        ("CMakeLists.txt", 2, 29, "USE_SABI"),
        ("pyproject.toml", 6, 1, "py-limited-api"),
        ("setup.cfg", 2, 1, "py_limited_api"),
        ("setup.py", 10, 33, "py_limited_api"),
        ("setup.py", 11, 36, "Py_LIMITED_API"),
    ]
    # one finding per setting and file, the other places as related sites
    setup_py = next(f for f in res.findings if f.symbol == "py_limited_api" and f.path.endswith(".py"))
    assert [(s.line, s.column) for s in setup_py.related] == [(15, 31)]
    assert "(2 places)" in setup_py.message


def test_scan_of_a_subfolder_reads_the_project_build_files(scan_c, tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "setup.cfg").write_text("[bdist_wheel]\npy-limited-api=cp38\n")
    (tmp_path / "pyproject.toml").write_text("[project]\nname='x'\n")
    (tmp_path / "pkg" / "m.c").write_text("int x;\n")
    from extmigrate.scan import ScanOptions, scan
    res = scan(ScanOptions(paths=[str(tmp_path / "pkg")], select=["FT513"], jobs=1))
    assert _where(res) == [("setup.cfg", 2, 1, "py-limited-api")]
