"""The result cache: hits, invalidation by headers and options, corrupt entries, the CLI flags."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys

from extmigrate.cache import FORMAT, encode, loads
from extmigrate.cli import main
from extmigrate.scan import ScanOptions, scan

MODULE = """\
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "state.h"

static int exec_mod(PyObject *m) { return 0; }

static PyModuleDef_Slot slots[] = {
    {Py_mod_exec, exec_mod},
    {0, NULL},
};

static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "mod", NULL, 0, NULL, slots};

PyMODINIT_FUNC PyInit_mod(void) { return PyModuleDef_Init(&def); }
"""


def project(tmp_path, header: str = "#define STATE 1\n"):
    src = tmp_path / "proj"
    src.mkdir()
    (src / "mod.c").write_text(MODULE)
    (src / "state.h").write_text(header)
    return src


def run(src, cache_dir, **kw):
    return scan(ScanOptions(paths=[str(src)], select=["FT201"], jobs=1, cache=True,
                            cache_dir=str(cache_dir), **kw))


def entries(cache_dir) -> list[str]:
    """Per-file entries."""
    return sorted(p for p in glob.glob(os.path.join(str(cache_dir), "results-v*", "*", "*.json"))
                  if not os.path.basename(p).startswith("scan-"))


def scan_entries(cache_dir) -> list[str]:
    """Whole-scan entries (the outcome of a scan of the very same files)."""
    return sorted(glob.glob(os.path.join(str(cache_dir), "results-v*", "*", "scan-*.json")))


def mark(cache_dir, text: str = "FROM-CACHE") -> None:
    """Edit the stored finding of mod.c, in its file entry and in the whole-scan entries, so that a
    warm scan shows whether it came from either cache."""
    for path in entries(cache_dir):
        with open(path) as f:
            doc = json.load(f)
        if doc["result"]["path"].endswith("mod.c"):
            doc["result"]["findings"][0]["message"] = text
            with open(path, "w") as f:
                json.dump(doc, f)
    for path in scan_entries(cache_dir):
        with open(path) as f:
            doc = json.load(f)
        for finding in doc["scan"]["findings"]:
            if finding["path"].endswith("mod.c"):
                finding["message"] = text
        with open(path, "w") as f:
            json.dump(doc, f)


def messages(result) -> list[str]:
    return [f.message for f in result.findings]


def test_warm_scan_is_served_from_the_cache(tmp_path):
    src, cache = project(tmp_path), tmp_path / "cache"
    cold = run(src, cache)
    assert [f.code for f in cold.findings] == ["FT201"]
    assert len(entries(cache)) == 1
    assert not glob.glob(os.path.join(str(cache), "**", ".extmigrate-*"), recursive=True)
    mark(cache)
    assert messages(run(src, cache)) == ["FROM-CACHE"]


def test_unchanged_tree_is_one_whole_scan_entry(tmp_path):
    """A second scan of the same files reads one entry; a changed file is re-analysed alone."""
    src, cache = project(tmp_path), tmp_path / "cache"
    (src / "other.c").write_text("#include <Python.h>\nstatic int n;\nint bump(void) { return ++n; }\n")
    cold = run(src, cache)
    assert len(scan_entries(cache)) == 1 and len(entries(cache)) == 2
    mark(cache)
    warm = run(src, cache)
    assert messages(warm) == ["FROM-CACHE"]
    assert [f.to_dict() for f in warm.findings] != [f.to_dict() for f in cold.findings]
    for path in entries(cache):  # the file entries alone: the whole-scan entry serves this scan
        os.remove(path)
    assert messages(run(src, cache)) == ["FROM-CACHE"]
    (src / "other.c").write_text("#include <Python.h>\nint bump(void) { return 1; }\n")
    again = run(src, cache)  # a new whole-scan key; mod.c was analysed again (its entry was removed)
    assert messages(again) != ["FROM-CACHE"] and [f.code for f in again.findings] == ["FT201"]
    assert len(scan_entries(cache)) == 2


def test_warm_scan_loads_neither_rules_nor_libclang(tmp_path):
    """The start-up of a warm scan: only discovery, hashing and one cache entry."""
    src, cache = project(tmp_path), tmp_path / "cache"
    args = ["scan", str(src), "--cache-dir", str(cache), "--no-progress", "--no-config"]
    assert main(args) == 1
    code = ("import sys; from extmigrate.cli import main; rc = main(sys.argv[1:]); "
            "heavy = [m for m in ('clang.cindex', 'extmigrate.rules.base', 'jinja2', 'multiprocessing') "
            "if m in sys.modules]; print('HEAVY', heavy); sys.exit(rc)")
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    assert out.returncode == 1, out.stderr
    assert "HEAVY []" in out.stdout
    assert "FT201" in out.stdout  # the findings are still reported


def test_changed_source_misses(tmp_path):
    src, cache = project(tmp_path), tmp_path / "cache"
    run(src, cache)
    mark(cache)
    (src / "mod.c").write_text(MODULE + "\nstatic int unused;\n")
    assert messages(run(src, cache)) != ["FROM-CACHE"]


def test_changed_header_invalidates_the_files_that_include_it(tmp_path):
    src, cache = project(tmp_path), tmp_path / "cache"
    run(src, cache)
    mark(cache)
    (src / "state.h").write_text("#define STATE 2\n")
    warm = run(src, cache)
    assert [f.code for f in warm.findings] == ["FT201"]
    assert messages(warm) != ["FROM-CACHE"]


def test_header_that_appears_invalidates_a_missing_include(tmp_path):
    src, cache = project(tmp_path), tmp_path / "cache"
    (src / "mod.c").write_text(MODULE.replace('"state.h"', '"later.h"'))
    first = run(src, cache)
    assert any("later.h" in d.message for d in first.diagnostics)
    mark(cache)
    assert messages(run(src, cache)) == ["FROM-CACHE"]  # still missing: still a hit
    (src / "later.h").write_text("#define LATER 1\n")
    second = run(src, cache)
    assert messages(second) != ["FROM-CACHE"]
    assert not any("later.h" in d.message for d in second.diagnostics)


def test_options_are_part_of_the_key(tmp_path):
    src, cache = project(tmp_path), tmp_path / "cache"
    run(src, cache)
    mark(cache)
    assert messages(run(src, cache, defines=["EXTRA=1"])) != ["FROM-CACHE"]
    assert messages(run(src, cache, gil_disabled=True)) != ["FROM-CACHE"]
    other = scan(ScanOptions(paths=[str(src)], select=["FT201", "FT101"], jobs=1, cache=True,
                             cache_dir=str(cache)))
    assert "FROM-CACHE" not in messages(other)


def test_corrupt_entry_is_ignored_and_replaced(tmp_path):
    src, cache = project(tmp_path), tmp_path / "cache"
    cold = run(src, cache)
    paths = entries(cache) + scan_entries(cache)
    assert len(paths) == 2
    for garbage in (b"", b"\x00\xff{not json", b'{"format": 1, "deps": 3}', b"[1, 2]",
                    b'{"format": 1, "deps": {}, "missing": [], "scan": {"findings": 7}}'):
        for path in paths:
            with open(path, "wb") as f:
                f.write(garbage)
        again = run(src, cache)
        assert [f.to_dict() for f in again.findings] == [f.to_dict() for f in cold.findings]
    for path in paths:
        with open(path) as f:
            assert json.load(f)["format"] == FORMAT  # rewritten by the last scan


def test_unwritable_cache_dir_only_costs_speed(tmp_path):
    src = project(tmp_path)
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("x")
    result = run(src, blocker / "cache")
    assert [f.code for f in result.findings] == ["FT201"]


def test_cli_no_cache_writes_nothing(tmp_path, capsys):
    src, cache = project(tmp_path), tmp_path / "cache"
    code = main(["scan", str(src), "--select", "FT201", "--no-cache", "--cache-dir", str(cache),
                 "--no-progress", "--no-config"])
    assert code == 1
    assert not entries(cache)
    code = main(["scan", str(src), "--select", "FT201", "--cache-dir", str(cache), "--no-progress",
                 "--no-config"])
    assert code == 1 and len(entries(cache)) == 1


def test_rule_values_survive_the_round_trip():
    value = {"t": (1, ("a", None)), "s": {3, 1}, "f": frozenset({"x"}), 2: [1.5, True],
             "__tuple__": "a key that looks like a tag", ("k", 1): {"nested": ()}}
    back = loads(json.dumps(encode(value)))  # what the cache reads with: untagged while parsed
    assert back == value
    assert isinstance(back["t"], tuple) and isinstance(back["f"], frozenset)
    assert isinstance(back["s"], set) and not isinstance(back["s"], frozenset)


def test_python_headers_replaced_in_place_change_the_key(tmp_path):
    """An upgraded Python installed over the same include dir must not serve old results."""
    fake = tmp_path / "fakepy"
    fake.mkdir()
    (fake / "patchlevel.h").write_text("#define PY_VERSION \"3.99.0\"\n")
    src, cache = project(tmp_path), tmp_path / "cache"
    run(src, cache, include_dirs=[str(fake)])
    mark(cache)
    assert messages(run(src, cache, include_dirs=[str(fake)])) == ["FROM-CACHE"]
    (fake / "patchlevel.h").write_text("#define PY_VERSION \"3.99.1\"\n")
    assert messages(run(src, cache, include_dirs=[str(fake)])) != ["FROM-CACHE"]


def test_whole_scan_key_covers_every_build_file_a_rule_reads():
    """Rules that read build files (FT513, FT204) read only names the whole-scan key covers."""
    from extmigrate.discover import BUILD_FILE_NAMES
    from extmigrate.rules import limited_api, module_gil_common

    assert set(limited_api.BUILD_FILES) <= set(BUILD_FILE_NAMES)
    assert set(module_gil_common.NB["build_files"]) <= set(BUILD_FILE_NAMES)


def test_changed_build_file_is_a_new_whole_scan(tmp_path):
    src, cache = project(tmp_path), tmp_path / "cache"
    (src / "setup.py").write_text("from setuptools import setup\nsetup()\n")
    args = ["scan", str(src), "--select", "FT513", "--cache-dir", str(cache), "--no-progress", "--no-config"]
    assert main(args) == 0
    (src / "setup.py").write_text("from setuptools import Extension, setup\n"
                                  "setup(ext_modules=[Extension('m', ['mod.c'], py_limited_api=True)])\n")
    assert main(args) == 1  # the limited API is now asked for: not served from the earlier scan


def test_entries_unused_for_a_month_are_pruned_and_used_ones_kept(tmp_path):
    """A warm scan marks what it used (the whole-scan entry and every file's entry); pruning, once a
    day, removes what nobody used for 30 days, PCHs included."""
    import time

    from extmigrate.cache import prune

    src, cache = project(tmp_path), tmp_path / "cache"
    (src / "other.c").write_text(MODULE.replace("PyInit_mod", "PyInit_other"))
    run(src, cache)
    used = entries(cache) + scan_entries(cache)
    pch = glob.glob(os.path.join(str(cache), "pch", "prelude-*.pch"))
    assert len(used) == 3 and pch
    month_ago = time.time() - 40 * 86400
    stale = os.path.join(str(cache), f"results-v{FORMAT}", "zz", "stale.json")
    os.makedirs(os.path.dirname(stale))
    with open(stale, "w") as f:
        f.write("{}")
    for path in used + pch + [stale]:
        os.utime(path, (month_ago, month_ago))
    run(src, cache)  # warm: served by the whole-scan entry, which touches what it stands on
    assert prune(str(cache)) == 0  # the scan pruned already today
    assert prune(str(cache), now=time.time() + 2 * 86400) == 2
    assert not os.path.exists(stale)
    assert not any(os.path.exists(p) for p in pch)  # the warm scan needed no parse
    assert all(os.path.exists(p) for p in used)
    assert prune(str(cache), now=time.time() + 40 * 86400) >= 3  # nobody used them since
    assert not entries(cache) and not scan_entries(cache)


def test_a_reused_precompiled_prelude_counts_as_used(tmp_path):
    import time

    src, cache = project(tmp_path), tmp_path / "cache"
    (src / "other.c").write_text(MODULE.replace("PyInit_mod", "PyInit_other"))
    run(src, cache)
    [pch] = glob.glob(os.path.join(str(cache), "pch", "prelude-*.pch"))
    old = time.time() - 40 * 86400
    os.utime(pch, (old, old))
    (src / "mod.c").write_text(MODULE + "\nstatic int unused;\n")  # re-analysed on the same prelude
    run(src, cache)
    assert glob.glob(os.path.join(str(cache), "pch", "prelude-*.pch")) == [pch]
    assert os.stat(pch).st_mtime > old + 86400
