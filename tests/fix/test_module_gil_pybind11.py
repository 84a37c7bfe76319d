"""FT203 / FT204 fixes: the pybind11 tag argument and nanobind's FREE_THREADED build option."""

from __future__ import annotations

from tests.fix.conftest import git_apply_check


def test_pybind11_tag_argument(project):
    project.write({"ex.cpp": """\
        #include <pybind11/pybind11.h>
        namespace py = pybind11;

        int add(int a, int b) { return a + b; }

        PYBIND11_MODULE(example, m) {
            m.def("add", &add);
        }
    """})
    rc, diff, err = project.fix("--select", "FT203")
    assert "-PYBIND11_MODULE(example, m) {\n+PYBIND11_MODULE(example, m, py::mod_gil_not_used()) {\n" in diff
    git_apply_check(project.root, diff)
    project.fix("--select", "FT203", "--apply")
    assert project.scan("--select", "FT203")[0] == 0
    assert project.fix("--select", "FT203")[1] == ""


def test_nanobind_build_option(project):
    project.write({"pyproject.toml": "", "CMakeLists.txt": """\
        cmake_minimum_required(VERSION 3.18)
        project(ex)
        nanobind_add_module(example NB_STATIC ex.cpp)
    """, "ex.cpp": """\
        #include <nanobind/nanobind.h>
        NB_MODULE(example, m) {
            m.def("add", [](int a, int b) { return a + b; });
        }
    """})
    rc, diff, err = project.fix("--select", "FT204")
    assert "+nanobind_add_module(example FREE_THREADED NB_STATIC ex.cpp)\n" in diff
    git_apply_check(project.root, diff)
    project.fix("--select", "FT204", "--apply")
    assert project.scan("--select", "FT204")[0] == 0
    assert project.fix("--select", "FT204")[1] == ""
