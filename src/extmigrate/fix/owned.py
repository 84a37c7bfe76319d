"""Which code a migration may edit: a TU that includes Python.h, outside vendored third-party code.

`vendored(path)` names why a file belongs to a bundled library (data/vendored.toml): a folder below
the project root named like `third_party/`, holding a license file other than the project's, or
holding its own build that never mentions Python (a library built by its own CMake target)."""

from __future__ import annotations

import os
import sys
from functools import lru_cache
from importlib import resources

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from extmigrate.rules.module_gil_common import build_dirs  # noqa: E402

_DATA = tomllib.loads(resources.files("extmigrate").joinpath("data/vendored.toml").read_text("utf-8"))


@lru_cache(maxsize=None)
def _listing(folder: str) -> tuple[str, ...]:
    try:
        return tuple(sorted(os.listdir(folder)))
    except OSError:
        return ()


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(1 << 20)
    except OSError:
        return b""


def _licenses(folder: str) -> list[str]:
    prefixes = tuple(_DATA["license_prefixes"])
    return [n for n in _listing(folder) if n.lower().startswith(prefixes)
            and os.path.isfile(os.path.join(folder, n))]


@lru_cache(maxsize=None)
def _folder_reason(folder: str, root: str | None) -> str | None:
    name = os.path.basename(folder)
    if name.lower() in _DATA["folder_names"]:
        return f"a {name}/ folder"
    if root is None:  # no project root to compare licenses and builds with
        return None
    own = {_read(os.path.join(root, n)) for n in _licenses(root)}
    for lic in _licenses(folder) if own else []:  # no license at the top: a lower one may be ours
        if _read(os.path.join(folder, lic)) not in own:
            return f"its own license file ({lic})"
    for build in _DATA["build_files"]:
        text = _read(os.path.join(folder, build)).lower()
        if text and not any(w.encode() in text for w in _DATA["python_build_words"]):
            return f"its own build without Python ({build})"
    return None


@lru_cache(maxsize=None)
def vendored(path: str) -> tuple[str, str] | None:
    """(folder, why) when `path` lies in vendored third-party code, else None."""
    folder = os.path.dirname(os.path.abspath(path))
    dirs = build_dirs(path)  # up to the project's top folder (pyproject.toml, setup.py, .git)
    top = dirs[-1]
    root = top if os.path.dirname(top) != top else None
    d, levels = folder, 0
    while d != root and (root is not None or levels < 2):  # no root known: the nearest folders only
        why = _folder_reason(d, root)
        if why:
            return d, why
        parent = os.path.dirname(d)
        if parent == d:
            break
        d, levels = parent, levels + 1
    return None


def names_python(source: bytes) -> bool:
    """Does a file's text name Python's C API or a binding library (data/vendored.toml)?"""
    return any(m.encode() in source for m in _DATA["python_markers"])
