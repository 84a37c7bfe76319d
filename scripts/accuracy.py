"""Precision of the rules on real C extensions (issue 3) and the fix table (issue 4).

    .venv/bin/python scripts/accuracy.py                # per-rule and per-package precision
    .venv/bin/python scripts/accuracy.py --write-missing  # append unjudged findings to the TOML files
    .venv/bin/python scripts/accuracy.py --fix-table    # fixes offered/applied/compiling, on copies

The sdists pinned in benchmarks/corpus.py are fetched once into ~/.cache/extmigrate-corpus and never
executed. Each finding is matched to a verdict in benchmarks/triage/<package>.toml by
(rule, path relative to the package, function, symbol); one verdict covers every finding with that key.
Exit 1 when a finding has no verdict, so the table cannot go stale silently.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
import corpus  # noqa: E402

TRIAGE = REPO / "benchmarks" / "triage"
PY_HEADERS = ("/root/.pyenv/versions/3.11.7/include/python3.11",
              "/root/.pyenv/versions/3.13.0/include/python3.13")


def scan_args(sd: corpus.Sdist) -> list[str]:
    args = list(sd.paths)
    for g in sd.exclude:
        args += ["--exclude", g]
    for d in sd.includes:
        args += ["-I", d]
    for d in sd.defines:
        args += ["-D", d]
    return args + ["--no-config", "--no-progress"]


def scan(sd: corpus.Sdist, root: Path, jobs: int, no_cache: bool) -> list[dict]:
    cmd = [sys.executable, "-m", "extmigrate", "scan", "--format", "json", "-j", str(jobs)]
    cmd += scan_args(sd) + (["--no-cache"] if no_cache else [])
    out = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    try:
        if out.returncode not in (0, 1):
            raise ValueError(f"exit {out.returncode}")
        return json.loads(out.stdout)["findings"]
    except (ValueError, KeyError) as e:
        sys.exit(f"{sd.name}: scan failed ({e}): {out.stderr.strip()[-500:]}")


def key(f: dict, root: Path) -> tuple:
    return (f["code"], os.path.relpath(f["path"], root), f["function"] or "", f["symbol"])


def load_verdicts(name: str) -> dict[tuple, dict]:
    path = TRIAGE / f"{name}.toml"
    if not path.exists():
        return {}
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    out = {}
    for v in data.get("finding", []):
        k = (v["rule"], v["path"], v.get("function", ""), v["symbol"])
        if v.get("verdict") not in ("tp", "fp", "") or (v.get("verdict") and not v.get("reason")):
            sys.exit(f"{path}: {k}: verdict must be \"tp\" or \"fp\" with a reason")
        if k in out:
            sys.exit(f"{path}: {k} judged twice")
        out[k] = v
    return out


def toml_str(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)  # JSON string escapes are valid TOML basic strings


def append_missing(name: str, missing: list[tuple[tuple, dict]]) -> None:
    TRIAGE.mkdir(parents=True, exist_ok=True)
    with open(TRIAGE / f"{name}.toml", "a", encoding="utf-8") as fh:
        for (rule, path, func, sym), f in missing:
            fh.write(f"\n[[finding]]  # line {f['line']}: {f['message'][:150]}\n")
            fh.write(f"rule = {toml_str(rule)}\npath = {toml_str(path)}\n")
            fh.write(f"function = {toml_str(func)}\nsymbol = {toml_str(sym)}\n")
            fh.write('verdict = ""\nreason = ""\n')


def pct(tp: int, fp: int) -> str:
    return f"{100 * tp / (tp + fp):.0f} %" if tp + fp else "-"


def table(title: str, rows: dict[str, Counter]) -> None:
    print(f"\n| {title} | findings | TP | FP | unjudged | precision |\n| --- | ---: | ---: | ---: | ---: | ---: |")
    total = Counter()
    for name in sorted(rows):
        c = rows[name]
        total.update(c)
        print(f"| {name} | {c['n']} | {c['tp']} | {c['fp']} | {c['un']} | {pct(c['tp'], c['fp'])} |")
    print(f"| **all** | {total['n']} | {total['tp']} | {total['fp']} | {total['un']} | "
          f"{pct(total['tp'], total['fp'])} |")


def precision(args) -> int:
    by_rule: dict[str, Counter] = defaultdict(Counter)
    by_pkg: dict[str, Counter] = {}
    unjudged: list[str] = []
    for sd in corpus.PINNED:
        root = corpus.unpack(sd)
        verdicts = load_verdicts(sd.name)
        used, missing = set(), {}
        by_pkg[sd.name] = Counter()
        for f in scan(sd, root, args.jobs, args.no_cache):
            k = key(f, root)
            v = verdicts.get(k)
            col = v["verdict"] if v and v["verdict"] else "un"
            for c in (by_rule[f"{f['code']} {f['name']}"], by_pkg[sd.name]):
                c["n"] += 1
                c[col] += 1
            if v is None:
                missing.setdefault(k, f)
            else:
                used.add(k)
            if col == "un":
                unjudged.append(f"{sd.name}: {k[1]}:{f['line']}: {k[0]} {k[2]} {k[3]}")
        for k in sorted(set(verdicts) - used):
            print(f"note: {sd.name}: verdict for {k} matches no finding (stale)", file=sys.stderr)
        if args.write_missing and missing:
            append_missing(sd.name, list(missing.items()))
    table("rule", by_rule)
    table("package", by_pkg)
    if unjudged:
        print(f"\n{len(unjudged)} finding(s) without a verdict:", file=sys.stderr)
        for u in unjudged:
            print("  " + u, file=sys.stderr)
        return 1
    return 0


def compiles(files: list[Path], root: Path, sd: corpus.Sdist, cc: str) -> tuple[bool, list[str]]:
    """gcc -fsyntax-only on each patched file: 3.11 and 3.13 headers, with and without Py_GIL_DISABLED."""
    fails = []
    incs = [f"-I{root / d}" for d in sd.includes] + [f"-I{root / p}" for p in sd.paths]
    defs = [f"-D{d}" for d in sd.defines]
    for f in files:
        for hdr in PY_HEADERS:
            for gil in ([], ["-DPy_GIL_DISABLED=1"]):
                cmd = [cc, "-fsyntax-only", "-w", f"-I{hdr}", *incs, f"-I{f.parent}", *defs, *gil, str(f)]
                r = subprocess.run(cmd, capture_output=True, text=True)
                if r.returncode:
                    err = next((ln for ln in r.stderr.splitlines() if "error" in ln), r.stderr[:200])
                    fails.append(f"{f.relative_to(root)} [{Path(hdr).name}{' GIL off' if gil else ''}]: {err}")
    return not fails, fails


def baseline_errors(files: list[Path], orig: Path, sd: corpus.Sdist, cc: str) -> set[str]:
    """Errors the untouched file already has here (missing library headers): not the patch's fault."""
    _, fails = compiles([orig / f for f in files], orig, sd, cc)
    return {f.split("]: ", 1)[0] for f in fails}


def fix_table(args) -> int:
    print("\n| package | version | findings | fixes offered | applied | patched files | compile (3.11/3.13, GIL on/off) |")
    print("| --- | --- | ---: | ---: | ---: | ---: | --- |")
    worst = 0
    for sd in corpus.PINNED:
        root = corpus.unpack(sd)
        with tempfile.TemporaryDirectory(prefix=f"acc-{sd.name}-") as tmp:
            copy = Path(tmp) / root.name
            shutil.copytree(root, copy)
            findings = scan(sd, copy, args.jobs, True)
            offered = sum(1 for f in findings if f.get("fix"))
            before = {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()}
            cmd = [sys.executable, "-m", "extmigrate", "fix", "--apply", "--unsafe-fixes", "-j", str(args.jobs),
                   "--no-cache", "--min-python", "3.10"] + scan_args(sd)
            r = subprocess.run(cmd, cwd=copy, capture_output=True, text=True)
            if r.returncode not in (0, 1):
                print(f"| {sd.name} | {sd.version} | {len(findings)} | {offered} | fix failed: "
                      f"{r.stderr.strip().splitlines()[-1:]} | | |")
                worst = 1
                continue
            changed = [p for p in copy.rglob("*") if p.is_file() and before.get(p) != p.read_bytes()]
            after = scan(sd, copy, args.jobs, True)
            applied = len(findings) - len(after)
            sources = [p.relative_to(copy) for p in changed if p.suffix in (".c", ".cc", ".cpp", ".h")]
            ok, fails = compiles([copy / s for s in sources], copy, sd, args.cc)
            known = baseline_errors(sources, root, sd, args.cc)
            new = [f for f in fails if f.split("]: ", 1)[0] not in known]
            verdict = "yes" if ok else ("same errors as unpatched (missing lib headers)" if not new
                                        else f"NO: {new[0]}")
            worst |= bool(new)
            print(f"| {sd.name} | {sd.version} | {len(findings)} | {offered} | {applied} | {len(sources)} | {verdict} |")
            for f in new[1:4]:
                print(f"|  |  |  |  |  |  | {f} |")
    return worst


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write-missing", action="store_true", help="append unjudged findings to the TOML files")
    ap.add_argument("--fix-table", action="store_true", help="fix table on temporary copies")
    ap.add_argument("--no-cache", action="store_true")
    ap.add_argument("-j", "--jobs", type=int, default=2)
    ap.add_argument("--cc", default=os.environ.get("CC", "gcc"))
    args = ap.parse_args()
    return fix_table(args) if args.fix_table else precision(args)


if __name__ == "__main__":
    sys.exit(main())
