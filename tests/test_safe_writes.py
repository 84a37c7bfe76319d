"""Every command's writes, for real through the command line: scan -o / --write-baseline, fix --apply,
init-ci and the result cache on devices, FIFOs, symlinks in and out of the project and hard links."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from extmigrate.cli import main
from tests.test_fileio import read_fifo_in_thread

ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False
SRC = Path(__file__).resolve().parents[1] / "src"
SLOTS = """#include <Python.h>
static int exec_mod(PyObject *m) { return 0; }
static PyModuleDef_Slot slots[] = {{Py_mod_exec, exec_mod}, {0, NULL}};
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "m", NULL, 0, NULL, slots};
PyMODINIT_FUNC PyInit_m(void) { return PyModuleDef_Init(&def); }
"""
FIXED = "{Py_mod_gil, Py_MOD_GIL_NOT_USED}"


def scan(*argv) -> int:
    return main(["scan", "--no-progress", "-j", "1", "--no-config", "--select", "FT201", *argv])


def fix(*argv) -> int:
    return main(["fix", "--no-progress", "-j", "1", "--no-config", "--select", "FT201", *argv])


@pytest.fixture
def proj(tmp_path):
    root = tmp_path / "proj"
    root.mkdir()
    (root / "bad.c").write_text(SLOTS)
    return root


def test_cli_output_to_dev_null_keeps_the_device(proj):
    """The reported bug: as root, -o /dev/null replaced the device with a regular file."""
    env = dict(os.environ, PYTHONPATH=str(SRC))
    r = subprocess.run([sys.executable, "-m", "extmigrate", "scan", "--no-progress", "--no-config",
                        "-j", "1", "--format", "json", str(proj), "-o", os.devnull],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 1, r.stderr
    assert "Found 1 finding in 1 file" in r.stderr and r.stdout == ""
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_output_dash_is_stdout(proj, capsys):
    assert scan(str(proj), "--format", "json") == 1
    plain = capsys.readouterr().out
    assert scan(str(proj), "--format", "json", "-o", "-") == 1
    assert capsys.readouterr().out == plain
    assert not os.path.exists("-") and json.loads(plain)["findings"][0]["code"] == "FT201"


def test_output_to_a_fifo_read_by_a_thread(proj, tmp_path, capsys):
    fifo = str(tmp_path / "report.fifo")
    os.mkfifo(fifo)
    t, got = read_fifo_in_thread(fifo)
    assert scan(str(proj), "--format", "json", "-o", fifo) == 1
    t.join(30)
    assert json.loads(got[0])["findings"][0]["code"] == "FT201"
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_output_and_baseline_through_symlinks(proj, tmp_path, capsys):
    reports = tmp_path / "reports"
    reports.mkdir()
    for name in ("out.txt", "base.json"):
        (reports / name).write_text("old")
        (tmp_path / name).symlink_to(reports / name)
    assert scan(str(proj), "-o", str(tmp_path / "out.txt")) == 1
    assert scan(str(proj), "--write-baseline", str(tmp_path / "base.json")) == 0
    for name in ("out.txt", "base.json"):
        assert (tmp_path / name).is_symlink()
    assert "FT201" in (reports / "out.txt").read_text()
    assert json.loads((reports / "base.json").read_text())["findings"][0]["count"] == 1


def test_fix_through_a_symlink_in_the_project(proj, capsys):
    (proj / "src").mkdir()
    (proj / "bad.c").rename(proj / "src" / "real.c")
    (proj / "bad.c").symlink_to("src/real.c")
    (proj / "src" / "real.c").chmod(0o640)
    assert fix("--apply", str(proj / "bad.c")) == 0, capsys.readouterr().err
    assert (proj / "bad.c").is_symlink() and os.readlink(proj / "bad.c") == "src/real.c"
    assert FIXED in (proj / "src" / "real.c").read_text()
    assert stat.S_IMODE((proj / "src" / "real.c").stat().st_mode) == 0o640


def test_fix_refuses_a_symlink_leaving_the_project(proj, tmp_path, capsys):
    outside = tmp_path / "vendor"
    outside.mkdir()
    (proj / "bad.c").rename(outside / "v.c")
    (proj / "v.c").symlink_to(outside / "v.c")
    for apply in ([], ["--apply"]):  # the dry run shows exactly what --apply would do
        capsys.readouterr()
        assert fix(*apply, str(proj)) == 1
        out, err = capsys.readouterr()
        assert out == ""
        assert f"links to {outside / 'v.c'}, outside the project (pass {outside / 'v.c'} itself" in err
    assert FIXED not in (outside / "v.c").read_text()
    assert fix("--apply", str(proj), str(outside / "v.c")) == 0  # the user names the target
    assert FIXED in (outside / "v.c").read_text() and (proj / "v.c").is_symlink()


def test_fix_patches_every_name_of_a_hard_linked_file(proj, capsys):
    os.link(proj / "bad.c", proj / "twin.c")
    assert fix("--apply", str(proj)) == 0, capsys.readouterr().err
    assert "1 file(s) written" in capsys.readouterr().err
    a, b = (proj / "bad.c"), (proj / "twin.c")
    assert FIXED in a.read_text() and a.read_text() == b.read_text()
    assert a.stat().st_ino == b.stat().st_ino and a.stat().st_nlink == 2


def test_fix_keeps_mode_and_owner(proj, capsys):
    path = proj / "bad.c"
    path.chmod(0o754)
    if ROOT:
        os.chown(path, 4321, 8765)
    assert fix("--apply", str(proj)) == 0, capsys.readouterr().err
    st = path.stat()
    assert FIXED in path.read_text() and stat.S_IMODE(st.st_mode) == 0o754
    if ROOT:
        assert (st.st_uid, st.st_gid) == (4321, 8765)


def test_init_ci_writes_through_a_symlinked_pyproject(tmp_path, capsys):
    proj = tmp_path / "proj"
    (proj / "conf").mkdir(parents=True)
    (proj / "conf" / "pyproject.toml").write_text('[project]\nname = "m"\nrequires-python = ">=3.10"\n')
    (proj / "pyproject.toml").symlink_to("conf/pyproject.toml")
    assert main(["init-ci", str(proj)]) == 0
    assert (proj / "pyproject.toml").is_symlink()
    assert "[tool.cibuildwheel]" in (proj / "conf" / "pyproject.toml").read_text()
    # a pyproject.toml that links out of the project is left alone
    other = tmp_path / "other"
    (other / "elsewhere").mkdir(parents=True)
    (other / "elsewhere" / "pyproject.toml").write_text('[project]\nname = "m"\n')
    (other / "p").mkdir()
    (other / "p" / "pyproject.toml").symlink_to(other / "elsewhere" / "pyproject.toml")
    capsys.readouterr()
    assert main(["init-ci", str(other / "p")]) == 1
    assert "outside the project" in capsys.readouterr().err
    assert "cibuildwheel" not in (other / "elsewhere" / "pyproject.toml").read_text()


def test_cache_entries_go_through_a_symlinked_cache_folder(proj, tmp_path, capsys):
    real = tmp_path / "real-cache"
    real.mkdir()
    (tmp_path / "cache").symlink_to(real)
    args = ["--cache-dir", str(tmp_path / "cache"), "--format", "json", str(proj)]
    assert main(["scan", "--no-progress", "-j", "1", "--no-config", *args]) == 1
    first = capsys.readouterr().out
    entries = [os.path.join(d, f) for d, _, fs in os.walk(real) for f in fs]
    assert any(re.search(r"results-v\d+", e) for e in entries)
    assert (tmp_path / "cache").is_symlink()
    assert main(["scan", "--no-progress", "-j", "1", "--no-config", *args]) == 1
    assert capsys.readouterr().out == first


# Every write call in src/ is the writer's own; anything else would bypass the policy.
_WRITE = re.compile(r"""open\([^)]*["'][wax]b?\+?["']|\.write_(?:text|bytes)\(|os\.(?:replace|rename)\(|"""
                    r"""shutil\.(?:copy\w*|move)\(|os\.open\(""")
# compilecheck writes patched copies into its own fresh temporary folder, never to a user's path.
# compilecheck writes patched copies into its own temporary folder; runtime/project.py streams a build
# step's output into a new log file in verify's own work folder (a stream, not a finished text)
_PRIVATE = {"fileio.py", os.path.join("fix", "compilecheck.py"), os.path.join("runtime", "project.py")}


def test_no_write_bypasses_the_writer():
    pkg = SRC / "extmigrate"
    found = []
    for path in sorted(pkg.rglob("*.py")):
        rel = str(path.relative_to(pkg))
        if rel in _PRIVATE:
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if _WRITE.search(line):
                found.append(f"{rel}:{n}: {line.strip()}")
    assert found == []


def test_fix_compile_database_pointing_elsewhere_writes_nothing_there(proj, tmp_path, capsys):
    """A database entry for a file elsewhere, an include folder elsewhere: findings and fixes stay
    inside the project."""
    inc = tmp_path / "elsewhere" / "inc"
    inc.mkdir(parents=True)
    (inc / "slots.h").write_text(SLOTS.replace("#include <Python.h>\n", ""))
    (tmp_path / "elsewhere" / "other.c").write_text(SLOTS)
    (proj / "uses.c").write_text('#include <Python.h>\n#include "slots.h"\n')
    entries = [{"directory": str(tmp_path / "elsewhere"), "file": str(f),
                "arguments": ["cc", f"-I{inc}", "-c", str(f)]}
               for f in (proj / "uses.c", proj / "bad.c", tmp_path / "elsewhere" / "other.c")]
    (proj / "compile_commands.json").write_text(json.dumps(entries))
    before = {p: p.read_bytes() for p in (tmp_path / "elsewhere").rglob("*") if p.is_file()}
    assert fix("--apply", str(proj)) == 0, capsys.readouterr().err
    assert "1 finding(s) fixed, 0 left; 1 file(s) written" in capsys.readouterr().err
    assert FIXED in (proj / "bad.c").read_text()
    assert {p: p.read_bytes() for p in (tmp_path / "elsewhere").rglob("*") if p.is_file()} == before


def test_fix_of_a_subfolder_may_write_elsewhere_in_its_project(proj, capsys):
    """The project is the path given and the nearest folder above it with pyproject.toml (or .git,
    setup.py, setup.cfg): src/x.c -> ../vendor/x.c inside it is patched; without the marker, refused."""
    (proj / "vendor").mkdir()
    (proj / "src").mkdir()
    (proj / "bad.c").rename(proj / "vendor" / "x.c")
    (proj / "src" / "x.c").symlink_to("../vendor/x.c")
    assert fix("--apply", str(proj / "src")) == 1
    assert "outside the project" in capsys.readouterr().err
    (proj / "pyproject.toml").write_text('[project]\nname = "m"\n')
    assert fix("--apply", str(proj / "src")) == 0, capsys.readouterr().err
    assert FIXED in (proj / "vendor" / "x.c").read_text()
