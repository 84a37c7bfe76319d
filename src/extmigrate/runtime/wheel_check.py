"""`extmigrate wheel-check`: do these distributions serve free-threaded Python?"""

from __future__ import annotations

import os
import re
import zipfile
from dataclasses import dataclass, field
from email.parser import HeaderParser

from packaging.tags import Tag
from packaging.utils import InvalidWheelFilename, parse_wheel_filename

FT_CLASSIFIER = "Programming Language :: Python :: Free Threading"
_EXT_SUFFIX = re.compile(r"\.(cpython-(\d+)(t?)[^.]*)\.(so|pyd)$|\.(abi3)\.so$|\.(pyd|so)$")


@dataclass
class WheelReport:
    path: str
    name: str = ""
    version: str = ""
    tags: list[str] = field(default_factory=list)
    free_threaded: bool = False  # a cp3XXt tag
    abi3: bool = False
    pure: bool = False
    extensions: list[str] = field(default_factory=list)
    classifiers: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _is_ft(tag: Tag) -> bool:
    return tag.abi.startswith("cp") and tag.abi.endswith("t")


def inspect_wheel(path: str) -> WheelReport:
    rep = WheelReport(path)
    try:
        name, version, _, tags = parse_wheel_filename(os.path.basename(path))
    except InvalidWheelFilename as e:
        rep.problems.append(f"not a wheel file name: {e}")
        return rep
    rep.name, rep.version = str(name), str(version)
    rep.tags = sorted(str(t) for t in tags)
    rep.free_threaded = any(_is_ft(t) for t in tags)
    rep.abi3 = any(t.abi == "abi3" for t in tags)
    rep.pure = all(t.abi == "none" and t.platform == "any" for t in tags)
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            meta = next((n for n in names if n.endswith(".dist-info/METADATA")), None)
            if meta:
                headers = HeaderParser().parsestr(zf.read(meta).decode("utf-8", "replace"))
                rep.classifiers = headers.get_all("Classifier") or []
    except (OSError, zipfile.BadZipFile) as e:
        rep.problems.append(f"cannot read the wheel: {e}")
        return rep
    rep.extensions = sorted(n for n in names if n.endswith((".so", ".pyd")))
    for ext in rep.extensions:
        m = re.search(r"\.cpython-(\d+)(t?)-", ext) or re.search(r"\.cp(\d+)(t?)-win", ext)
        if rep.free_threaded and not (m and m.group(2) == "t"):
            rep.problems.append(f"{ext}: a cp3XXt wheel should hold '.cpython-3XXt-...' extensions")
        if not rep.free_threaded and m and m.group(2) == "t":
            rep.problems.append(f"{ext}: free-threaded extension in a wheel not tagged cp3XXt")
    if rep.abi3 and not rep.free_threaded:
        rep.problems.append("abi3 wheel: free-threaded Python cannot use the limited API / stable ABI, "
                            "so free-threaded users build from source")
    if rep.free_threaded and not any(c.startswith(FT_CLASSIFIER) for c in rep.classifiers):
        rep.problems.append(f"no '{FT_CLASSIFIER} :: ...' classifier in METADATA")
    return rep


def collect(paths: list[str]) -> tuple[list[WheelReport], list[str]]:
    """Wheels named directly or found in the named folders; other files are reported."""
    wheels, other = [], []
    for p in paths:
        if os.path.isdir(p):
            wheels += [os.path.join(p, n) for n in sorted(os.listdir(p)) if n.endswith(".whl")]
        elif p.endswith(".whl"):
            wheels.append(p)
        else:
            other.append(p)
    return [inspect_wheel(w) for w in wheels], other


def summarise(reports: list[WheelReport]) -> dict[str, dict]:
    """Per project: is there a free-threaded wheel at all?"""
    out: dict[str, dict] = {}
    for r in reports:
        if not r.name:
            continue
        proj = out.setdefault(f"{r.name} {r.version}", {"wheels": 0, "free_threaded": 0, "abi3": 0, "pure": 0})
        proj["wheels"] += 1
        proj["free_threaded"] += r.free_threaded
        proj["abi3"] += r.abi3
        proj["pure"] += r.pure
    return out
