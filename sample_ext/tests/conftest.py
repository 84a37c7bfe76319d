"""Test setup: run every test against each _lru module the installed wheel has.

The tests import the installed ftsample wheel (pip install ./sample_ext),
never the source tree. ``ftsample.legacy._lru`` is always built;
``ftsample._lru`` only when src/migrated/_lru.c existed at build time.
"""

import importlib
import os
import sys

import pytest


def _built_modules():
    """(id, module) for every importable _lru build, legacy first."""
    found = []
    for ident, name in (("legacy", "ftsample.legacy._lru"), ("migrated", "ftsample._lru")):
        try:
            found.append((ident, importlib.import_module(name)))
        except ModuleNotFoundError as exc:
            if exc.name not in (name, name.rpartition(".")[0], "ftsample"):  # module or its package
                raise
    return found


MODULES = _built_modules()
# Checked after the imports above: importing a module that does not declare
# free-threading support turns the GIL back on unless PYTHON_GIL=0.
GIL_ENABLED = getattr(sys, "_is_gil_enabled", lambda: True)()
# FTSAMPLE_STRESS_LEGACY=1 runs the legacy stress tests with the GIL off anyway,
# to watch them fail (or crash): the races the migration removes.
STRESS_LEGACY = os.environ.get("FTSAMPLE_STRESS_LEGACY") == "1"


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "stress: thread-stress test; skipped for the legacy module while the GIL is "
        "disabled, because that module relies on the GIL",
    )


def pytest_generate_tests(metafunc):
    if "mod" not in metafunc.fixturenames:
        return
    if not MODULES:
        skip = pytest.mark.skip(reason="ftsample is not installed (pip install ./sample_ext)")
        metafunc.parametrize("mod", [pytest.param(None, marks=skip)], ids=["none"])
        return
    stress = metafunc.definition.get_closest_marker("stress") is not None
    params = []
    for ident, module in MODULES:
        marks = []
        if stress and ident == "legacy" and not (GIL_ENABLED or STRESS_LEGACY):
            marks.append(pytest.mark.skip(reason="legacy module relies on the GIL"))
        if ident == "legacy" and not GIL_ENABLED:
            # pytest-run-parallel (--parallel-threads=N) runs these in one thread only
            marks.append(pytest.mark.thread_unsafe(reason="legacy module relies on the GIL"))
        params.append(pytest.param(module, id=ident, marks=marks))
    metafunc.parametrize("mod", params)
