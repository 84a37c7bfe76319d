"""sample_ext's [tool.cibuildwheel] as cibuildwheel itself reads it: which wheels, tested how."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("cibuildwheel", reason="cibuildwheel is not installed (it needs Python 3.11+)")

SAMPLE = Path(__file__).resolve().parents[1] / "sample_ext"
GIL_VERSIONS = ["310", "311", "312", "313", "314"]


@pytest.fixture(scope="module")
def identifiers() -> list[str]:
    proc = subprocess.run([sys.executable, "-m", "cibuildwheel", "--print-build-identifiers", "--platform",
                           "linux", str(SAMPLE)], capture_output=True, text=True, cwd=SAMPLE.parent)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


@pytest.fixture(scope="module")
def options():
    """cibuildwheel's resolved options: what it prints as "Build options" before a build."""
    from cibuildwheel.options import CommandLineArguments, compute_options

    args = dataclasses.replace(CommandLineArguments.defaults(), platform="linux", package_dir=SAMPLE)
    return compute_options("linux", args, env={})


def test_free_threaded_and_gil_builds_are_selected(identifiers):
    for libc in ("manylinux", "musllinux"):
        assert f"cp314t-{libc}_x86_64" in identifiers
        for v in GIL_VERSIONS:
            assert f"cp{v}-{libc}_x86_64" in identifiers
    pythons = {i.split("-")[0] for i in identifiers}
    assert pythons == {f"cp{v}" for v in GIL_VERSIONS} | {"cp314t"}  # no PyPy, no pre-releases


def test_gil_stays_off_only_for_free_threaded_tests(identifiers, options):
    for ident in identifiers:
        env = options.build_options(ident).test_environment.as_dictionary(prev_environment={})
        if ident.startswith("cp314t-"):
            assert env.get("PYTHON_GIL") == "0", ident
        else:
            assert "PYTHON_GIL" not in env, ident


def test_every_wheel_is_tested_in_parallel_threads(identifiers, options):
    for ident in identifiers:
        build = options.build_options(ident)
        assert "pytest-run-parallel" in build.test_requires
        commands = build.test_command.split("&&")
        assert any("--parallel-threads=" in c and "{package}/tests" in c for c in commands), ident
        assert any("--parallel-threads" not in c and "{package}/tests" in c for c in commands), ident
