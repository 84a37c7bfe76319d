"""`extmigrate wheel-check DIST...`: report whether wheels serve free-threaded Python."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict

from extmigrate.flags import ConfigError
from extmigrate.runtime.wheel_check import collect, summarise


def add_parser(sub) -> None:
    p = sub.add_parser("wheel-check", help="check built wheels for free-threaded (cp3XXt) support",
                       description="Per wheel: free-threaded tags, abi3, extension suffixes and the Free "
                                   "Threading classifier. Exit 1 when a project has no free-threaded wheel "
                                   "or a wheel has a problem.")
    p.add_argument("dists", nargs="+", metavar="DIST", help="wheel files or folders of wheels")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(run=run)


def run(args) -> int:
    reports, other = collect(args.dists)
    if other:
        raise ConfigError(f"not a wheel or folder: {', '.join(other)}")
    if not reports:
        raise ConfigError("no wheels found")
    projects = summarise(reports)
    failed = any(r.problems for r in reports) or any(
        p["free_threaded"] == 0 and p["pure"] < p["wheels"] for p in projects.values())
    if args.format == "json":
        doc = {"wheels": [asdict(r) for r in reports], "projects": projects, "failed": failed}
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return 1 if failed else 0
    for r in reports:
        kind = "free-threaded" if r.free_threaded else ("abi3" if r.abi3 else ("pure" if r.pure else "GIL"))
        print(f"{r.path}: {kind} [{', '.join(r.tags)}]")
        for ext in r.extensions:
            print(f"    extension {ext}")
        for prob in r.problems:
            print(f"    problem: {prob}")
    for name, p in projects.items():
        verdict = ("has free-threaded wheels" if p["free_threaded"] else
                   "pure Python: fine on free-threaded builds" if p["pure"] == p["wheels"] else
                   "NO free-threaded wheel: python3.14t users must build from source")
        print(f"{name}: {p['wheels']} wheel(s), {p['free_threaded']} free-threaded: {verdict}")
    return 1 if failed else 0
