"""Recall on labelled free-threading migrations (issue 15).

    .venv/bin/python scripts/recall.py            # per-category and per-package table, then the misses
    .venv/bin/python scripts/recall.py --json     # the same as JSON (sites with the finding that named each)

For each package in RECALL, the release before its free-threading work and the release that shipped it
are pinned (sdist sha256, fetched and unpacked as data by benchmarks/corpus.py, never executed). What the
maintainers changed for free-threading between the two is labelled in benchmarks/recall/<package>.toml:
one [[site]] per changed place of the earlier release (line, or line..end_line for a changed block), and
an [[ignored]] entry with the reason for every change left out. The earlier release is scanned as
scripts/accuracy.py scans (paths, excludes, -I, -D), and a site counts as named when a finding of the
site's category is in the same file and either in the same function or within LINES lines of it, one
finding per site (see match()), or when one of a finding's related locations (the writes an FT301
finding lists ...) is within LINES lines of it.
Exits 0 (the table is the result) unless a label file is malformed.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "scripts"))
import accuracy  # noqa: E402
import corpus  # noqa: E402
from corpus import Sdist  # noqa: E402

LABELS = REPO / "benchmarks" / "recall"
CATEGORIES = ("borrowed-ref", "module-gil", "static-state", "allocator", "other")
GENERATED = ("isa-l", "zlib-ng")  # headers a build writes before compiling, rebuilt by _generated()
LINES = 5  # a finding this close to a site names it even when the function differs (or is unknown)


@dataclass(frozen=True)
class Migration:
    before: Sdist   # what is scanned; paths/includes/defines are those of the earlier release's build
    after: Sdist    # the release that shipped free-threaded support (only diffed, by hand, when labelling)
    needs: tuple = ()   # extra -I: a package with get_include() (numpy, cppy, pybind11) or one of GENERATED
    how: str = ""   # how the release that added free-threading was found


def _same(before: Sdist, version: str, sha256: str) -> Sdist:
    return Sdist(before.name, version, sha256, before.paths, before.exclude, before.includes, before.defines)


def _m(before: Sdist, version: str, sha256: str, needs: tuple = (), how: str = "") -> Migration:
    return Migration(before, _same(before, version, sha256), needs, how)


RECALL = (
    _m(Sdist("kiwisolver", "1.4.7", "9893ff81bd7107f7b685d3017cc6583daadb4fc26e4a888350df530e41980a60",
             paths=("py/src",), includes=(".",)),
       "1.4.8", "23d5f023bdc8c7e54eb65f03ca5d5bb25b601eac4d7f1a042888a1f45237987e", ("cppy",),
       "first release with cp313t wheels; adds Py_mod_gil and a global recursive mutex"),
    _m(Sdist("numexpr", "2.10.2", "b0aff6b48ebc99d2f54f27b5f73a58cb92fde650aeff1b397c71c8788b4fff1a",
             paths=("numexpr",), exclude=("win32",), includes=("numexpr",)),
       "2.11.0", "75b2c01a4eda2e7c357bc67a3f5c3dd76506c15b5fd4dc42845ef2e182181bad", ("numpy",),
       "RELEASE_NOTES: 'Initial support for free-threaded Python 3.13t' (PRs #504, #505, #508)"),
    _m(Sdist("bottleneck", "1.4.2", "fa8e8e1799dea5483ce6669462660f9d9a95649f6f98a80d315b84ec89f449f4",
             paths=("bottleneck/src",), includes=("bottleneck/src",)),
       "1.5.0", "c860242cf20e69d5aab2ec3c5d6c8c2a15f19e4b25b28b8fca2c2a12cefae9d8", ("numpy",),
       "first release with cp313t wheels; the sdist ships the *_template.c sources the build expands"),
    _m(Sdist("isal", "1.7.2", "c6a4f6652590ca238a864648f9933b366fa5ae664df56c5e5862ff29dd0c69db",
             paths=("src/isal",), exclude=("isa-l",)),
       "1.8.0", "124233e9a31a62030a07aafd48c26689561926f4e10417ed3ea46c211218f2b4", ("isa-l",),
       "CHANGELOG 1.8.0: 'Enable support for free-threading'; isa-l/ is the vendored codec library"),
    _m(Sdist("zlib-ng", "0.5.1", "32a46649e8efc21ddd74776a55366a8d8be4e3a95b93dc1f0ffe3880718990d9",
             paths=("src/zlib_ng",), exclude=("zlib-ng",)),
       "1.0.0", "c753cea73f9e803c246e9bf01a59eb652897ed8a19334ada0f968394c7f61650", ("zlib-ng",),
       "first release with cp313t wheels; src/zlib_ng/zlib-ng/ is the vendored codec library"),
    _m(Sdist("ijson", "3.3.0", "7f172e6ba1bee0d4c8f8ebd639577bfe429dee0f3f96775a067b8bae4492d8a0",
             paths=("ijson/backends/yajl2_c",)),
       "3.4.0", "5f74dcbad9d592c428d3ca3957f7115a42689ee7ee941458860900236ae9bb13", (),
       "CHANGELOG 3.4.0: 'Advertise support for free-threading python mode'; yajl headers from the system "
       "(Debian libyajl-dev)"),
    _m(Sdist("shapely", "2.0.7", "28fe2997aab9a9dc026dc6a355d04e85841546b2a5d232ed953e3321ab958ee5",
             paths=("src",), includes=("src",)),
       "2.1.0", "2cbe90e86fa8fc3ca8af6ffb00a77b246b918c7cf28677b7c21489b678f6b02e", ("numpy",),
       "first release with cp313t wheels; geos_c.h from the system (Debian libgeos-dev)"),
    _m(Sdist("pycairo", "1.28.0", "26ec5c6126781eb167089a123919f87baa2740da2cca9098be8b3a6b91cc5fbc",
             paths=("cairo",), includes=("/usr/include/cairo",),
             defines=("PYCAIRO_VERSION_MAJOR=1", "PYCAIRO_VERSION_MINOR=28", "PYCAIRO_VERSION_MICRO=0")),
       "1.29.0", "f3f7fde97325cae80224c09f12564ef58d0d0f655da0e3b040f5807bd5bd3142", (),
       "NEWS 1.29.0: 'Experimental support for free-threaded Python' (PRs 429, 430); cairo.h from the system "
       "(Debian libcairo2-dev, what `pkg-config --cflags cairo` gives); defines: meson.build's"),
    _m(Sdist("time-machine", "2.17.0", "bc31f23aa4c31b6567a7e5b2bbb0d1a0c0a1340c6d050c1f1b71cd0e2e76cb7f",
             paths=("src",)),
       "2.18.0", "85b8cb4fb9fae1bd4447fa841f42fcc6cd05529c8a143ce76b0bce7d99b4d576", (),
       "first release whose module declares Py_mod_gil (2.17.0 already had cp313t wheels, GIL re-enabled)"),
    _m(Sdist("pygit2", "1.18.2", "eca87e0662c965715b7f13491d5e858df2c0908341dee9bde2bc03268e460f55",
             paths=("src",)),
       "1.19.0", "ca5db6f395a74166a019d777895f96bcb211ee60ce0be4132b139603e0066d83", (),
       "first release whose module declares the GIL not used; git2.h from the system (Debian libgit2-dev); "
       "pygit2/decl/ is the cffi half, not scanned"),
    _m(Sdist("evdev", "1.9.3", "2c140e01ac8437758fa23fe5c871397412461f42d421aa20241dc8fe8cfccbc9",
             paths=("src/evdev/input.c", "src/evdev/uinput.c")),
       "2.0.0", "442fb3f4c8dfc9e61e901133c356220c02d663eca8f34722e0cecdd637eba504", (),
       "first release whose modules declare the GIL not used; ecodes.c is generated at build time from the "
       "kernel headers and not in the sdist"),
    _m(Sdist("bitstruct", "8.22.2", "ad3884a559871aa931d216ff45000b7ae29a5991af4fce1b24c7580d2169979b",
             paths=("src/bitstruct",)),
       "8.23.0", "3d20a8d748add9b1c68efc6c592a99b4b0937c9dcddd140fdae352bf2513aea5", (),
       "first release whose module declares the GIL not used"),
    _m(Sdist("deflate", "0.8.1", "1bba0e70d3885f5135f00c17a42aef98d9dc817daf9a56df7dcc92174f4d2cda",
             paths=("src",), includes=("libdeflate",)),
       "0.9.0", "962e0a6f1ea3a94b900a8ea0ce138fa92bfcbafda5b86367104a259ffcd3462b", (),
       "first release whose module declares the GIL not used; libdeflate/ is the vendored codec library"),
    _m(Sdist("contourpy", "1.2.1", "4d8908b3bee1c889e547867ca4cdc54e5ab6be6d3e078556814a22457f49423c",
             paths=("src",)),
       "1.3.0", "7ffa0db17717a8ffb127efd0c95a4362d996b892c2904db72428d5b52e1938a4", ("pybind11",),
       "changelog 1.3.0: 'Support CPython 3.13 including free-threaded'; a pybind11 extension"),
    _m(Sdist("gmpy2", "2.2.2", "d9b8c81e0f5e1a3cabf1ea8d154b29b5ef6e33b8f4e4c37b3da957b2dd6a3fa8",
             paths=("src",), exclude=("pythoncapi_compat.h",)),
       "2.3.0", "2d943cc9051fcd6b15b2a09369e2f7e18c526bc04c210782e4da61b62495eb4a", (),
       "history.rst 2.3.0: 'Preliminary support for free-threaded builds'; a unity build (gmpy2.c includes "
       "the 50 gmpy2_*.c files), scanned as `extmigrate scan src/` does; gmp/mpfr/mpc headers from the "
       "system (Debian libgmp-dev, libmpfr-dev, libmpc-dev); pythoncapi_compat.h is vendored"),
    _m(Sdist("ml-dtypes", "0.4.1", "fad5f2de464fd09127e49b7fd1252b9006fb43d2edc1ff112d390c324af5ca7a",
             paths=("ml_dtypes/_src",), includes=("third_party/eigen", "ml_dtypes", ".")),
       "0.5.0", "3e7d3a380fe73a63c884f06136f8baa7a5249cc8e9fdec677997dd78549f8128", ("numpy",),
       "first release whose module declares the GIL not used; third_party/eigen is vendored (headers only)"),
    _m(Sdist("polyleven", "0.10.0", "00e8aeaccd5e40a6e0685e1a4bdc404fbf009b498597373bc3a83ebb41b360ee",
             paths=("polyleven.c",)),
       "0.11.0", "d74d348387cf340051711c0dd6af993b4c264daa78470098de16f4a2b725785c", (),
       "first release whose module declares the GIL not used"),
    _m(Sdist("watchdog", "6.0.0", "9ddf7c82fda3ae8e24decda1338ede66e1c99883db93711d8fb941eaa2d8c282",
             paths=("src/watchdog_fsevents.c",)),
       "7.0.0", "128583e0ffa0e5c0531f9f37e2e24be1e7b0503561f6aa8b0aac5a1d646e2bf2", (),
       "changelog 7.0.0: '[fsevents] Support free-threading and give each emitter its own stream' (#1140); "
       "the extension is macOS-only: on Linux its CoreServices headers are missing (a platform blind spot)"),
    _m(Sdist("asv", "0.6.5", "a8eeb7c5037cd78c146bd727d27203132438d4d62f36e669eb0cd5d63da0cf39",
             paths=("asv/_rangemedian.cpp",)),
       "0.6.6", "82e47105db8f56d9b1e54763dd01a1709d2722ad2f727b21521628c3e110bdc6", (),
       "first release with cp313t/cp314t wheels (asv PR 1580: Py_mod_gil, a per-object mutex); one C++ file"),
    _m(Sdist("stringzilla", "4.6.1", "47e9b0b95337857146e0dd4309998af7acab6bdca1f85c069adc1c32bbd57cb0",
             paths=("python/stringzilla.c",), includes=("include",),
             defines=("SZ_DYNAMIC_DISPATCH=1", "SZ_IS_BIG_ENDIAN_=0", "SZ_IS_64BIT_X86_=1", "SZ_IS_64BIT_ARM_=0")),
       "4.6.2", "f30fb35d84578236723aaf9442e9281ae29c8ad5255eb118173c9370af4c0e71", (),
       "first release whose module declares the GIL not used (StringZilla PR 298; cp31Xt wheels came with "
       "5.0.4); python/stringzilla.c is the binding, include/ and c/ the string library; defines: setup.py's "
       "on x86-64"),
)


def _get_include(module: str) -> str | None:
    """A build-time header package's include dir (numpy, cppy, pybind11: each has get_include()), from this
    interpreter, else from the first python3 on PATH that has it."""
    for py in (sys.executable, shutil.which("python3")):
        if not py:
            continue
        r = subprocess.run([py, "-c", f"import {module}; print({module}.get_include())"],
                           capture_output=True, text=True)
        if r.returncode == 0 and r.stdout.strip():
            return r.stdout.strip()
    return None


def _generated(m: Migration, root: Path, need: str) -> str | None:
    """-I dir with the headers the package's build writes before compiling, rebuilt here as text."""
    out = corpus.CACHE / "generated" / f"{m.before.name}-{m.before.version}"
    out.mkdir(parents=True, exist_ok=True)
    if need == "isa-l":  # `make isa-l.h` (make.inc) + the build's copy of include/ to isa-l/
        lib = root / "src" / "isal" / "isa-l"
        shutil.copytree(lib / "include", out / "isa-l", dirs_exist_ok=True)
        hdrs = sorted({h for am in lib.glob("*/Makefile.am")
                       for h in re.findall(r"include/(\w+\.h)", " ".join(re.findall(
                           r"extern_hdrs\s*\+=((?:[^\n]*\\\n)*[^\n]*)", am.read_text())))})
        major, minor, patch = re.search(r"version \?= (\d+)\.(\d+)\.(\d+)", (lib / "make.inc").read_text()).groups()
        (out / "isa-l.h").write_text(f"#define ISAL_MAJOR_VERSION {major}\n#define ISAL_MINOR_VERSION {minor}\n"
                                     f"#define ISAL_PATCH_VERSION {patch}\n"
                                     + "".join(f"#include <isa-l/{h}>\n" for h in hdrs))
        return str(out)
    if need == "zlib-ng":  # cmake's configure_file with no symbol prefix
        for src in (root / "src" / "zlib_ng" / "zlib-ng").glob("*.h.in"):
            text = re.sub(r"#cmakedefine\s+(\w+).*", r"/* #undef \1 */", src.read_text(errors="replace"))
            (out / src.name[:-3]).write_text(re.sub(r"@[A-Z_]+@", "", text))
        return str(out)
    return None


def extra_includes(m: Migration, root: Path) -> tuple[list[str], list[str]]:
    """(-I dirs, notes about what could not be found)."""
    dirs, notes = [], []
    for need in m.needs:
        d = _generated(m, root, need) if need in GENERATED else _get_include(need)
        if d:
            dirs.append(d)
        else:
            notes.append(f"{m.before.name}: {need} headers not found (pip install {need}); scanned without")
    return dirs, notes


def scan(m: Migration, root: Path, jobs: int, no_cache: bool) -> list[dict]:
    """scripts/accuracy.py's scan of the earlier release, with the generated/extra include dirs added."""
    dirs, notes = extra_includes(m, root)
    for n in notes:
        print("note: " + n, file=sys.stderr)
    try:
        return accuracy.scan(replace(m.before, includes=m.before.includes + tuple(dirs)), root, jobs, no_cache)
    except SystemExit as e:  # accuracy.scan's one-line message; its sites count as missed
        print(f"note: {e}", file=sys.stderr)
        return []


def load_sites(name: str) -> list[dict]:
    try:
        with open(LABELS / f"{name}.toml", "rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as e:
        sys.exit(f"{name}: cannot read its labels: {e}")
    sites = data.get("site", [])
    for s in sites:
        missing = {"path", "line", "category", "change", "rule"} - set(s)
        if missing or s["category"] not in CATEGORIES:
            sys.exit(f"{name}.toml: site {s}: needs path, line, category (one of {CATEGORIES}), change, rule")
    return sites


def _distance(site: dict, line: int) -> int:
    """Lines from `line` to the site: its line, or the span line..end_line a changed block covers."""
    start, end = site["line"], site.get("end_line", site["line"])
    return 0 if start <= line <= end else min(abs(line - start), abs(line - end))


def _at(site: dict, f: dict, root: Path) -> int | None:
    """Line distance when finding f's own location is at the site (same file and category, same function
    or within LINES lines), else None."""
    if f["category"] != site["category"] or Path(f["path"]).resolve() != (root / site["path"]).resolve():
        return None
    d = _distance(site, f["line"])
    return d if d <= LINES or (site.get("function") and f.get("function") == site["function"]) else None


def _related_at(site: dict, f: dict, root: Path) -> bool:
    """One of f's related locations (the other writes an FT301 finding lists, ...) is at the site."""
    path = (root / site["path"]).resolve()
    return f["category"] == site["category"] and any(
        Path(r["path"]).resolve() == path and _distance(site, r["line"]) <= LINES for r in f.get("related", []))


def match(sites: list[dict], findings: list[dict], root: Path) -> list[dict | None]:
    """The finding that names each site. A finding's own location names one site only (the nearest free
    one: two borrowed reads in one function need two findings); its related locations may name several
    (one FT301 finding at a global lists every unlocked write)."""
    pairs = sorted((d, i, j) for i, s in enumerate(sites) for j, f in enumerate(findings)
                   if (d := _at(s, f, root)) is not None)
    out: list[dict | None] = [None] * len(sites)
    used = set()
    for _, i, j in pairs:
        if out[i] is None and j not in used:
            out[i], used = findings[j], used | {j}
    for i, s in enumerate(sites):
        if out[i] is None:
            out[i] = next((f for f in findings if _related_at(s, f, root)), None)
    return out


def pct(named: int, sites: int) -> str:
    return f"{100 * named / sites:.0f} %" if sites else "-"


def table(title: str, rows: dict[str, Counter]) -> None:
    print(f"\n| {title} | sites | named | missed | recall |\n| --- | ---: | ---: | ---: | ---: |")
    total = Counter()
    for name, c in rows.items():
        total.update(c)
        print(f"| {name} | {c['sites']} | {c['named']} | {c['sites'] - c['named']} | {pct(c['named'], c['sites'])} |")
    print(f"| **all** | {total['sites']} | {total['named']} | {total['sites'] - total['named']} | "
          f"{pct(total['named'], total['sites'])} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true", help="every site with the finding that named it, as JSON")
    ap.add_argument("--no-cache", action="store_true")
    ap.add_argument("-j", "--jobs", type=int, default=2)
    args = ap.parse_args()
    by_cat = {c: Counter() for c in CATEGORIES}
    by_pkg: dict[str, Counter] = {}
    misses, report = [], []
    for m in RECALL:
        root = corpus.unpack(m.before)
        corpus.unpack(m.after)
        findings = scan(m, root, args.jobs, args.no_cache)
        by_pkg[m.before.name] = Counter()
        sites = load_sites(m.before.name)
        for s, hit in zip(sites, match(sites, findings, root)):
            for c in (by_cat[s["category"]], by_pkg[m.before.name]):
                c["sites"] += 1
                c["named"] += hit is not None
            where = f"{m.before.name} {s['path']}:{s['line']} {s.get('function', '')}".rstrip()
            report.append({"package": m.before.name, **s,
                           "named_by": hit and f"{hit['code']} line {hit['line']} {hit['symbol']}"})
            if hit is None:
                misses.append(f"- {where} [{s['category']}, {s['rule']}]: {s['change']}")
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    table("category", by_cat)
    table("package", by_pkg)
    print(f"\n{len(misses)} site(s) no finding names:")
    print("\n".join(misses))
    return 0


if __name__ == "__main__":
    sys.exit(main())
