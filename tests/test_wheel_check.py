"""wheel-check on wheel archives laid out as real build backends write them."""

from __future__ import annotations

import json
import zipfile

from extmigrate.cli import main
from extmigrate.runtime.wheel_check import FT_CLASSIFIER, inspect_wheel


def make_wheel(folder, filename: str, files: list[str], classifiers: list[str]) -> str:
    name, version = filename.split("-")[:2]
    dist = f"{name}-{version}.dist-info"
    meta = "Metadata-Version: 2.1\nName: {}\nVersion: {}\n{}".format(
        name, version, "".join(f"Classifier: {c}\n" for c in classifiers))
    path = folder / filename
    with zipfile.ZipFile(path, "w") as zf:
        for f in files:
            zf.writestr(f, b"\x7fELF")
        zf.writestr(f"{dist}/METADATA", meta)
        zf.writestr(f"{dist}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: false\n")
        zf.writestr(f"{dist}/RECORD", "")
    return str(path)


FT_TAG = "cp314-cp314t-manylinux_2_17_x86_64.manylinux2014_x86_64"


def test_good_free_threaded_wheel(tmp_path):
    w = make_wheel(tmp_path, f"demo-1.0-{FT_TAG}.whl",
                   ["demo/_core.cpython-314t-x86_64-linux-gnu.so"], [f"{FT_CLASSIFIER} :: 2 - Beta"])
    rep = inspect_wheel(w)
    assert rep.free_threaded and not rep.abi3 and rep.problems == []
    assert rep.extensions == ["demo/_core.cpython-314t-x86_64-linux-gnu.so"]
    assert main(["wheel-check", str(tmp_path)]) == 0


def test_wrong_suffix_and_missing_classifier(tmp_path):
    w = make_wheel(tmp_path, f"demo-1.0-{FT_TAG}.whl", ["demo/_core.cpython-314-x86_64-linux-gnu.so"], [])
    probs = inspect_wheel(w).problems
    assert any("cpython-3XXt" in p for p in probs)
    assert any("Free Threading" in p for p in probs)


def test_abi3_only_project_fails(tmp_path, capsys):
    make_wheel(tmp_path, "demo-1.0-cp310-abi3-manylinux_2_17_x86_64.whl", ["demo/_core.abi3.so"], [])
    assert main(["wheel-check", str(tmp_path), "--format", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["projects"]["demo 1.0"] == {"wheels": 1, "free_threaded": 0, "abi3": 1, "pure": 0}
    assert any("limited API" in p for p in doc["wheels"][0]["problems"])


def test_gil_wheels_only_fail_and_pure_wheels_pass(tmp_path, capsys):
    gil = tmp_path / "gil"
    gil.mkdir()
    make_wheel(gil, "demo-1.0-cp313-cp313-manylinux_2_17_x86_64.whl",
               ["demo/_core.cpython-313-x86_64-linux-gnu.so"], [])
    assert main(["wheel-check", str(gil)]) == 1
    assert "NO free-threaded wheel" in capsys.readouterr().out
    pure = tmp_path / "pure"
    pure.mkdir()
    make_wheel(pure, "demo-1.0-py3-none-any.whl", ["demo/__init__.py"], [])
    assert main(["wheel-check", str(pure)]) == 0


def test_bad_arguments(tmp_path, capsys):
    (tmp_path / "x.tar.gz").write_bytes(b"")
    assert main(["wheel-check", str(tmp_path / "x.tar.gz")]) == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["wheel-check", str(empty)]) == 2
    broken = tmp_path / "demo-1.0-cp314-cp314t-linux_x86_64.whl"
    broken.write_bytes(b"not a zip")
    assert "cannot read" in inspect_wheel(str(broken)).problems[0]
