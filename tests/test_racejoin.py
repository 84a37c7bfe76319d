"""The join of real ThreadSanitizer races with a real scan: confirmed, dynamic only, not exercised."""

from __future__ import annotations

from pathlib import Path

import pytest

from extmigrate.runtime import racejoin, tsan
from extmigrate.scan import ScanOptions, scan

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_ext"
LEGACY = SAMPLE / "src" / "legacy"
DATA = Path(__file__).parent / "data" / "tsan"


def _races(log: str, project: tsan.Project) -> list[tsan.Race]:
    return tsan.races(tsan.parse((DATA / log).read_text(), log), project)


@pytest.fixture(scope="module")
def legacy_findings():
    return scan(ScanOptions(paths=[str(LEGACY)])).findings


def _legacy_project() -> tsan.Project:
    return tsan.Project(str(SAMPLE), [str(LEGACY / "_lru.c")])


def _table(joined: racejoin.Join) -> list[tuple]:
    return [(tuple(s.key() for s in m.race.sites), m.race.variable, m.expected, m.how,
             [f"{f.code}:{f.line}" for f in m.findings]) for m in joined.matches]


def test_legacy_sample_races_confirm_its_findings(legacy_findings):
    project = _legacy_project()
    races = _races("preload-legacy.log", project)
    joined = racejoin.join(races, legacy_findings, project)
    lru = "src/legacy/_lru.c"
    assert _table(joined) == [
        # a list item read while the interpreter's list code resizes the list: the borrowed item
        ((f"{lru}:139",), None, "borrowed-ref", "span", ["FT101:139"]),
        # self->evictions++ in lru_evict_oldest, a write site of LRUCache_put's object-state finding
        ((f"{lru}:180", f"{lru}:180"), None, "FT510", "related", ["FT510:233"]),
        ((f"{lru}:199", f"{lru}:199"), None, "FT510", "span", ["FT510:199"]),
        ((f"{lru}:203", f"{lru}:203"), None, "FT510", "related", ["FT510:199", "FT515:419"]),
        # the module-wide counter: confirmed at its write site
        ((f"{lru}:204", f"{lru}:204"), "total_hits", "FT301", "related", ["FT301:20"]),
        # Py_REFCNT(self->keys_cache) read while another thread replaces keys_cache
        ((f"{lru}:280", f"{lru}:286"), None, "FT510", "span", ["FT501:280"]),
    ]
    assert joined.dynamic_only == []
    assert [f.code for f, _ in joined.confirmed] == ["FT301", "FT101", "FT510", "FT510", "FT501", "FT515"]
    # the run crashed before tokenize() raced on the scratch buffer
    assert "FT303" in {f.code for f in joined.not_exercised}
    assert sorted(f.code for f in joined.static_only) == ["FT202", "FT401"]
    # the report inside the interpreter alone (object stack) is not a race of the project
    assert sum(r.count for r in races) == 9


def test_a_race_no_rule_reported_is_dynamic_only_with_the_rule_that_should_have():
    project = _legacy_project()
    findings = scan(ScanOptions(paths=[str(LEGACY)], ignore=["FT301", "FT510", "FT515"])).findings
    joined = racejoin.join(_races("preload-legacy.log", project), findings, project)
    missed = {(m.race.sites[0].line, m.expected) for m in joined.dynamic_only}
    assert missed == {(180, "FT510"), (199, "FT510"), (203, "FT510"), (204, "FT301")}
    # FT501 still confirms the keys_cache race at its span
    assert [f.code for f, _ in joined.confirmed] == ["FT101", "FT501"]


def test_expected_rule_by_what_the_race_touched():
    project = tsan.Project(str(DATA), [str(DATA / "racy.c"), str(DATA / "nodebug.c")], ["libnodebug.so"])
    got = {tuple(s.key() for s in r.sites): racejoin.expected_rule(r) for r in _races("gcc-racy.log", project)}
    assert got[("racy.c:19", "racy.c:19")] == "FT301"       # global 'counter' of size 8
    assert got[("racy.c:20", "racy.c:20")] == "FT303"       # global 'scratch' of size 64
    assert got[("racy.c:21", "racy.c:21")] == "FT510"       # heap block, both stacks in the project
    assert got[("racy.c:37", "racy.c:58")] == "borrowed-ref"  # heap-use-after-free
    assert got[("racy.c:28", "racy.c:53")] is None          # lock-order inversion: no rule
    assert got[("racy.c:60",)] is None                      # thread leak


def test_frames_without_source_lines_match_by_function_only():
    so = "_lru.cpython-314t-x86_64-linux-gnu.so"
    project = tsan.Project(str(SAMPLE), [str(LEGACY / "_lru.c")], [so])
    races = _races("preload-stripped.log", project)
    assert len(races) == 3 and all(s.path is None and s.function is None for r in races for s in r.sites)
    findings = scan(ScanOptions(paths=[str(LEGACY)])).findings
    joined = racejoin.join(races, findings, project)
    # no line, no function name and the variable is '<null>': nothing to confirm, all dynamic only
    assert len(joined.dynamic_only) == 3 and joined.confirmed == []


def test_tsan_built_cpython_reports_confirm_every_racing_class_of_the_legacy_sample(legacy_findings):
    """Reports of `extmigrate stress --tsan` with a ThreadSanitizer-built free-threaded CPython 3.14."""
    project = _legacy_project()
    reports = tsan.parse((DATA / "sample-tsan.log").read_text())
    assert [r.kind for r in reports].count("crash") == 1 and len(reports) == 9
    races = tsan.races(reports, project)
    joined = racejoin.join(races, legacy_findings, project)
    lru = "src/legacy/_lru.c"
    assert _table(joined) == [
        # PyList_GET_ITEM(self->order, i) read while another thread's PySequence_DelItem moves the items
        ((f"{lru}:139", f"{lru}:148"), None, "borrowed-ref", "span", ["FT101:139"]),
        ((f"{lru}:163", f"{lru}:148"), None, "borrowed-ref", "span", ["FT101:163"]),
        ((f"{lru}:199", f"{lru}:199"), None, "FT510", "span", ["FT510:199"]),
        ((f"{lru}:204", f"{lru}:204"), "total_hits", "FT301", "related", ["FT301:20"]),
        ((f"{lru}:286", f"{lru}:286"), None, "FT510", "related", ["FT510:281"]),
        # snprintf into scratch in __repr__ while another thread reads it in PyUnicode_FromString
        ((f"{lru}:417", f"{lru}:420"), "scratch", "FT303", "related", ["FT303:24"]),
        ((f"{lru}:484", f"{lru}:484"), "call_count", "FT301", "related", ["FT301:21"]),
        ((f"{lru}:514", f"{lru}:517"), "scratch", "FT303", "related", ["FT303:24"]),
    ]
    assert joined.dynamic_only == []
    # the crash (a list compared while another thread refills it in place) has no frame in the
    # project's code: left out
    assert len(reports) - sum(r.count for r in races) == 1
    codes = {f.code for f, _ in joined.confirmed}
    assert {"FT301", "FT303", "FT510", "FT101"} <= codes
