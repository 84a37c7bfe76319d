"""Packaging metadata tells the truth: license file, build requirement, one version, URLs, data globs."""

from __future__ import annotations

import glob
import importlib.metadata
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from packaging.requirements import Requirement
from packaging.version import Version

import extmigrate

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def test_license_file_matches_the_metadata():
    project = PYPROJECT["project"]
    assert project["license"] == "MIT"
    for name in project["license-files"]:
        text = (REPO / name).read_text()
        assert text.startswith("MIT License\n") and "THE SOFTWARE IS PROVIDED \"AS IS\"" in text


def test_build_requirement_supports_pep_639_license_expressions():
    reqs = [Requirement(r) for r in PYPROJECT["build-system"]["requires"]]
    setuptools = next(r for r in reqs if r.name == "setuptools")
    # setuptools 77 is the first to accept license = "<SPDX expression>" and license-files
    assert not setuptools.specifier.contains(Version("76.1")) and setuptools.specifier.contains(Version("77.0"))


def test_the_version_has_one_source():
    project = PYPROJECT["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "extmigrate.__version__"}
    assert importlib.metadata.version("extmigrate") == extmigrate.__version__


def test_urls_and_package_data_exist():
    assert {"Homepage", "Issues"} <= set(PYPROJECT["project"]["urls"])
    for pattern in PYPROJECT["tool"]["setuptools"]["package-data"]["extmigrate"]:
        assert glob.glob(str(REPO / "src" / "extmigrate" / pattern), recursive=True), pattern
