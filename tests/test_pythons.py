"""Interpreter discovery (extmigrate.pythons): the running Python, PATH, uv and the environment."""

from __future__ import annotations

import json
import os
import sys
import sysconfig
from pathlib import Path

import pytest

from extmigrate import pythons


def fake_python(folder: Path, name: str, version: tuple[int, int], ft: bool = False,
                headers: bool = True, broken: bool = False) -> Path:
    """An executable that answers pythons.py's query the way a CPython of that build would."""
    include = folder / f"include-{name}"
    if headers:
        include.mkdir(parents=True, exist_ok=True)
        (include / "Python.h").write_text("/* fake */\n")
    exe = folder / name
    answer = json.dumps({"exe": str(exe), "version": list(version), "ft": ft,
                         "include": str(include), "platinclude": str(include)})
    exe.write_text("#!/bin/sh\n" + ("exit 3\n" if broken else f"cat <<'EOF'\n{answer}\nEOF\n"))
    exe.chmod(0o755)
    return exe


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """PATH holding only a fresh folder (and /bin for sh); no discovery variables set."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", os.pathsep.join([str(bin_dir), "/bin"]))
    for var in ("EXTMIGRATE_PYTHONS", "EXTMIGRATE_FT_PYTHON"):
        monkeypatch.delenv(var, raising=False)
    return bin_dir


def test_the_running_interpreter_is_always_found():
    found = pythons.discover()
    mine = [i for i in found if i.version == tuple(sys.version_info[:2])
            and i.free_threaded == bool(sysconfig.get_config_var("Py_GIL_DISABLED"))]
    assert len(mine) == 1
    assert mine[0].include == sysconfig.get_paths()["include"] or mine[0].has_headers
    assert found == sorted(found, key=lambda i: (i.version, i.free_threaded))


def test_versioned_names_on_path_are_found_and_broken_ones_left_out(clean_env):
    fake_python(clean_env, "python3.19", (3, 19))
    fake_python(clean_env, "python3.19t", (3, 19), ft=True)
    fake_python(clean_env, "python3.18", (3, 18), broken=True)
    found = {i.label: i for i in pythons.discover()}
    assert "3.19" in found and "3.19t" in found and "3.18" not in found
    assert found["3.19t"].free_threaded and found["3.19"].has_headers
    assert found["3.19"].exe == str(clean_env / "python3.19")
    assert pythons.free_threaded().label == "3.19t"
    assert "3.19" in {i.label for i in pythons.with_headers()}


def test_environment_variables_name_interpreters_anywhere(clean_env, tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    a = fake_python(elsewhere, "interp-a", (3, 17))
    b = fake_python(elsewhere, "interp-b", (3, 16), headers=False)
    ft = fake_python(elsewhere, "interp-ft", (3, 15), ft=True)
    newer_ft = fake_python(clean_env, "python3.19t", (3, 19), ft=True)
    monkeypatch.setenv("EXTMIGRATE_PYTHONS", os.pathsep.join([str(a), str(b)]))
    monkeypatch.setenv("EXTMIGRATE_FT_PYTHON", str(ft))
    labels = {i.label for i in pythons.discover()}
    assert {"3.17", "3.16", "3.15t", "3.19t"} <= labels
    assert "3.16" not in {i.label for i in pythons.with_headers()}  # found, but without headers
    # $EXTMIGRATE_FT_PYTHON wins over a newer free-threaded one on PATH
    assert pythons.free_threaded().exe == str(ft)
    monkeypatch.delenv("EXTMIGRATE_FT_PYTHON")
    assert pythons.free_threaded().exe == str(newer_ft)


def test_one_interpreter_per_version_and_build_preferring_headers(clean_env, tmp_path, monkeypatch):
    first = fake_python(tmp_path, "first", (3, 17), headers=False)
    second = fake_python(clean_env, "python3.17", (3, 17))
    monkeypatch.setenv("EXTMIGRATE_PYTHONS", str(first))
    [it] = [i for i in pythons.discover() if i.version == (3, 17)]
    assert it.exe == str(second) and it.has_headers
    assert pythons.candidates().index(str(first)) < pythons.candidates().index(str(second))


def test_uv_managed_pythons_are_found(clean_env, tmp_path):
    managed = fake_python(tmp_path, "uv-python", (3, 18))
    listing = json.dumps([{"path": str(managed), "version": "3.18.0"}, {"path": None}])
    uv = clean_env / "uv"
    uv.write_text(f"#!/bin/sh\ncat <<'EOF'\n{listing}\nEOF\n")
    uv.chmod(0o755)
    assert str(managed) in pythons.candidates()
    assert (3, 18) in {i.version for i in pythons.discover()}


def test_uv_that_fails_or_prints_nonsense_finds_nothing(clean_env):
    uv = clean_env / "uv"
    uv.write_text("#!/bin/sh\necho 'not json'\n")
    uv.chmod(0o755)
    assert pythons._uv_pythons() == []
    uv.write_text("#!/bin/sh\nexit 2\n")
    assert pythons._uv_pythons() == []


def test_query_of_a_missing_or_failing_interpreter_is_none(tmp_path):
    assert pythons.query(str(tmp_path / "no-such-python")) is None
    assert pythons.query(str(fake_python(tmp_path, "bad", (3, 12), broken=True))) is None


def test_check_compile_headers_come_from_discovery(clean_env):
    from extmigrate.fix.compilecheck import header_dirs, targets

    running = sysconfig.get_paths()["include"]
    fake_python(clean_env, "python3.19", (3, 19))
    fake_python(clean_env, "python3.19t", (3, 19), ft=True)
    found = dict((d, v) for v, d in header_dirs())
    assert found[os.path.realpath(str(clean_env / "include-python3.19"))] == (3, 19)
    if os.path.isfile(os.path.join(running, "Python.h")):
        assert found[os.path.realpath(running)] == tuple(sys.version_info[:2])
    # the newest GIL headers are compiled against, also with -DPy_GIL_DISABLED=1, and the
    # free-threaded build's (a python3.Xt folder)
    tgts = [(t.version, os.path.basename(t.include), t.defines) for t in targets(None)]
    assert tgts[-3:] == [((3, 19), "include-python3.19", ()),
                         ((3, 19), "include-python3.19", ("-DPy_GIL_DISABLED=1",)),
                         ((3, 19), "include-python3.19t", ())]
    # --python-headers replaces discovery
    given = str(clean_env / "include-python3.19t")
    assert header_dirs([given]) == [((3, 19), os.path.realpath(given))]
