"""`[tool.extmigrate]` in pyproject.toml: the same keys as the command line flags."""

from __future__ import annotations

import os
import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from extmigrate.flags import ConfigError

KEYS = {
    "select": list, "ignore": list, "exclude": list, "include-dirs": list, "defines": list,
    "undefines": list, "baseline": str, "python": str, "gil-disabled": bool, "jobs": int,
    "timeout": (int, float), "min-python": str, "compile-commands-dir": str,
}


_TYPE_NAMES = {k: {list: "a list of strings", str: "a string", bool: "true or false", int: "an integer"}
               .get(t, "a number") for k, t in KEYS.items()}


def find_pyproject(paths: list[str]) -> str | None:
    """The nearest pyproject.toml at or above the first scanned path."""
    start = os.path.abspath(paths[0] if paths else ".")
    d = start if os.path.isdir(start) else os.path.dirname(start)
    while True:
        cand = os.path.join(d, "pyproject.toml")
        if os.path.isfile(cand):
            return cand
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent


# What marks a project's top folder: fix writes nothing outside the projects of the paths it is given.
PROJECT_MARKERS = (".git", "pyproject.toml", "setup.py", "setup.cfg")


def project_roots(paths: list[str]) -> list[str]:
    """Each path itself and the nearest folder at or above it that holds a project marker."""
    out = []
    for p in paths or ["."]:
        start = os.path.abspath(p)
        out.append(start)
        d = start if os.path.isdir(start) else os.path.dirname(start)
        while not any(os.path.exists(os.path.join(d, m)) for m in PROJECT_MARKERS):
            if os.path.dirname(d) == d:
                break
            d = os.path.dirname(d)
        else:
            out.append(d)
    return out


def load(path: str | None) -> tuple[dict, str | None]:
    """Return (settings, the pyproject path); the file is read as text, never executed."""
    if path is None:
        return {}, None
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML ({e})") from None
    section = doc.get("tool", {}).get("extmigrate", {})
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [tool.extmigrate] must be a table")
    for key, value in section.items():
        want = KEYS.get(key)
        if want is None:
            raise ConfigError(f"{path}: unknown key [tool.extmigrate] {key!r} "
                              f"(known: {', '.join(sorted(KEYS))})")
        wrong = not isinstance(value, want) or (want is list and not all(isinstance(v, str) for v in value))
        if wrong or (want is not bool and isinstance(value, bool)):
            raise ConfigError(f"{path}: [tool.extmigrate] {key} must be {_TYPE_NAMES[key]}")
    settings = dict(section)
    settings["_requires_python"] = doc.get("project", {}).get("requires-python")
    return settings, path
