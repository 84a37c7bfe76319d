"""`extmigrate stress --tsan` on the sample: the legacy module's thread-stress tests race in every
racing hazard class its findings name, and each race confirms a finding; the migrated module does not
race. Needs a ThreadSanitizer-built free-threaded CPython ($EXTMIGRATE_TSAN_PYTHON); takes minutes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from extmigrate.cli import main
from tests.conftest import find_tsan_python

SAMPLE = Path(__file__).resolve().parent.parent / "sample_ext"
# The racing hazard classes of the legacy sample, by the rules that name them.
CLASSES = {"shared static counter": {"FT301"}, "scratch buffer": {"FT303"},
           "object state": {"FT510"}, "borrowed item": {"FT101", "FT102", "FT104"}}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tsan_py = find_tsan_python()
    if tsan_py is None:
        pytest.skip("no ThreadSanitizer-built free-threaded CPython: set EXTMIGRATE_TSAN_PYTHON")
    tmp = tmp_path_factory.mktemp("sample")
    project = shutil.copytree(SAMPLE, tmp / "sample_ext", ignore=shutil.ignore_patterns("build", "_skbuild"))
    mp = pytest.MonkeyPatch()
    mp.setenv("FTSAMPLE_STRESS_LEGACY", "1")  # run the legacy stress tests with the GIL off
    try:
        main(["stress", str(project), "--python", tsan_py, "--tsan", "--threads", "2", "--format", "json",
              "--pytest-args", "tests/test_stress.py -k 'get_put or tokenize or counters or keys'",
              "-o", str(tmp / "report.json"),
              "--work-dir", str(tmp / "work")])
    finally:
        mp.undo()
    return json.loads((tmp / "report.json").read_text())


def test_every_racing_hazard_class_of_the_legacy_sample_is_confirmed(report):
    confirmed = {c["finding"]["code"] for c in report["confirmed"]
                 if "/src/legacy/" in c["finding"]["path"].replace("\\", "/")}
    for name, codes in CLASSES.items():
        assert confirmed & codes, f"no confirmed race for the {name} ({sorted(codes)})"


def test_the_migrated_sample_does_not_race(report):
    sites = [s["path"] for r in report["races"] for s in r["sites"]]
    assert sites and not [p for p in sites if p and p.startswith("src/migrated/")]
