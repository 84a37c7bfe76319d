"""Precision of the rules on real C extensions (issue 3) and the fix table (issue 4).

    .venv/bin/python scripts/accuracy.py                # per-rule and per-package precision; when every
                                                        # finding is judged, regenerates data/precision.toml
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
PRECISION_TOML = REPO / "src" / "extmigrate" / "data" / "precision.toml"
# SARIF `precision` (GitHub code scanning) from the measured share of true positives: the lowest
# share for each level, and how many judged findings a rule needs before it can be called very-high.
LEVELS = ((0.95, "very-high"), (0.85, "high"), (0.70, "medium"), (0.0, "low"))
VERY_HIGH_MIN_FINDINGS = 10
UNMEASURED = "medium"  # a rule with no finding on the corpus: its tests, but no field evidence
HALVES = ["tuning", "held-out"]


def py_headers() -> list[str]:
    """Include folders of the oldest and the newest GIL CPython found (extmigrate.pythons: the
    running one, python3.X on PATH, uv, $EXTMIGRATE_PYTHONS)."""
    from extmigrate import pythons

    gil = [i.include for i in pythons.with_headers() if not i.free_threaded]
    return list(dict.fromkeys(gil[:1] + gil[-1:]))


def scan_args(sd: corpus.Sdist, root: Path) -> list[str]:
    args = list(sd.paths)
    for g in sd.exclude:
        args += ["--exclude", g]
    for d in sd.includes + corpus.generated_includes(sd, root):
        args += ["-I", d]
    for d in sd.defines:
        args += ["-D", d]
    return args + ["--no-config", "--no-progress"]


def scan(sd: corpus.Sdist, root: Path, jobs: int, no_cache: bool) -> list[dict]:
    cmd = [sys.executable, "-m", "extmigrate", "scan", "--format", "json", "-j", str(jobs)]
    cmd += scan_args(sd, root) + (["--no-cache"] if no_cache else [])
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


def sarif_level(tp: int, fp: int) -> str:
    share = tp / (tp + fp)
    level = next(name for low, name in LEVELS if share >= low)
    return "high" if level == "very-high" and tp + fp < VERY_HIGH_MIN_FINDINGS else level


def write_precision(by_code: dict[str, Counter]) -> None:
    """data/precision.toml: what the SARIF reporter says of each rule's precision."""
    lines = ["# Generated by scripts/accuracy.py from the triaged corpus (docs/accuracy.md); do not edit.",
             "# sarif: the precision GitHub code scanning shows; a rule not listed is `unmeasured`.",
             f"unmeasured = {toml_str(UNMEASURED)}", ""]
    for code in sorted(by_code):
        c = by_code[code]
        if c["tp"] + c["fp"] == 0:
            continue
        lines += [f"[rules.{code}]", f"findings = {c['n']}", f"tp = {c['tp']}", f"fp = {c['fp']}",
                  f"precision = {c['tp'] / (c['tp'] + c['fp']):.3f}",
                  f"sarif = {toml_str(sarif_level(c['tp'], c['fp']))}", ""]
    text = "\n".join(lines)
    if PRECISION_TOML.exists() and PRECISION_TOML.read_text() == text:
        print(f"{PRECISION_TOML.relative_to(REPO)} unchanged", file=sys.stderr)
        return  # a measurement does not touch the package it measures when nothing moved
    PRECISION_TOML.write_text(text)
    print(f"wrote {PRECISION_TOML.relative_to(REPO)}", file=sys.stderr)


def precision(args) -> int:
    by_rule: dict[str, dict[str, Counter]] = defaultdict(lambda: defaultdict(Counter))
    by_pkg: dict[str, dict[str, Counter]] = defaultdict(dict)
    by_code: dict[str, Counter] = defaultdict(Counter)  # both halves: what SARIF says of each rule
    low: Counter = Counter()  # low-confidence findings (bodies with parse errors): shown apart, not judged
    unjudged: list[str] = []
    for sd in corpus.ALL:
        if args.half and sd.half != args.half:
            continue
        root = corpus.unpack(sd)
        verdicts = load_verdicts(sd.name)
        used, missing = set(), {}
        pkg = by_pkg[sd.half][sd.name] = Counter()
        for f in scan(sd, root, args.jobs, args.no_cache):
            if f.get("confidence") == "low":
                low[sd.half] += 1
                continue
            k = key(f, root)
            v = verdicts.get(k)
            col = v["verdict"] if v and v["verdict"] else "un"
            for c in (by_rule[sd.half][f"{f['code']} {f['name']}"], pkg, by_code[f["code"]]):
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
    for half in sorted(by_pkg, key=HALVES.index):
        print(f"\n### {half} half ({len(by_pkg[half])} packages)")
        table("rule", by_rule[half])
        table("package", by_pkg[half])
        counted = sum(c["n"] for c in by_pkg[half].values())
        share = f"{100 * low[half] / (counted + low[half]):.1f} %" if counted + low[half] else "-"
        print(f"\nlow-confidence findings (not counted, not judged): {low[half]} ({share} of all)")
    if unjudged:
        print(f"\n{len(unjudged)} finding(s) without a verdict:", file=sys.stderr)
        for u in unjudged:
            print("  " + u, file=sys.stderr)
        return 1
    if not args.half:  # the SARIF precision levels come from the whole triaged corpus
        write_precision(by_code)
    return 0


def build_tus(sd: corpus.Sdist, root: Path) -> list[Path]:
    """The files the package's build compiles (Sdist.tus, else every C/C++ source under its paths)."""
    if sd.tus:
        return [root / t for t in sd.tus]
    out = []
    for p in sd.paths:
        base = root / p
        files = [base] if base.is_file() else sorted(base.rglob("*"))
        out += [f for f in files if f.suffix in (".c", ".cc", ".cpp")
                and not any(part in sd.exclude for part in f.relative_to(root).parts)]
    return out


def gcc_errors(tu: Path, root: Path, sd: corpus.Sdist, cc: str) -> dict[str, set[str]]:
    """gcc -fsyntax-only against the oldest and newest headers found, each with and without -DPy_GIL_DISABLED=1:
    target -> error messages (without file:line, so patched and unpatched runs compare)."""
    incs = [f"-I{root / d}" for d in sd.includes + corpus.generated_includes(sd, root)]
    incs += [f"-I{root / p}" for p in sd.paths] + [f"-I{tu.parent}", f"-I{root}"]
    out = {}
    for hdr in py_headers():
        for gil in ((), ("-DPy_GIL_DISABLED=1",)):
            cmd = [cc, "-fsyntax-only", "-w", f"-I{hdr}", *incs, *(f"-D{d}" for d in sd.defines), *gil, str(tu)]
            r = subprocess.run(cmd, capture_output=True, text=True, cwd=root)
            errs = {ln.split("error: ", 1)[1] for ln in r.stderr.splitlines() if "error: " in ln}
            if r.returncode and not errs:
                errs = {r.stderr.strip()[:200] or f"exit {r.returncode}"}
            out[f"{Path(hdr).name}{' -DPy_GIL_DISABLED=1' if gil else ''}"] = errs
    return out


def fix_run(sd: corpus.Sdist, copy: Path, jobs: int, *flags: str) -> tuple[int, str]:
    cmd = [sys.executable, "-m", "extmigrate", "fix", "-j", str(jobs), "--no-cache", *flags] + scan_args(sd, copy)
    r = subprocess.run(cmd, cwd=copy, capture_output=True, text=True)
    return r.returncode, r.stderr


def fixable(log: str) -> str:
    """N from fix's last line, 'N finding(s) fixable/fixed, M left; ...'."""
    line = next((ln for ln in log.splitlines()[::-1] if " finding(s) " in ln), "")
    return line.split(" finding(s)")[0] if line else "?"


def fix_row(sd: corpus.Sdist, root: Path, args) -> tuple[str, bool]:
    with tempfile.TemporaryDirectory(prefix=f"accuracy-{sd.name}-") as tmp:
        copy = Path(tmp) / root.name
        shutil.copytree(root, copy)
        findings = scan(sd, copy, args.jobs, True)
        offered = fixable(fix_run(sd, copy, args.jobs, "--unsafe-fixes")[1])  # dry runs: diffs only
        safe = fixable(fix_run(sd, copy, args.jobs)[1])
        before = {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()}
        rc, log = fix_run(sd, copy, args.jobs, "--apply", "--unsafe-fixes", "--check-compile")
        tool_check = [ln for ln in log.splitlines() if ln.startswith(("compiled:", "compile check"))]
        tool_failed = [ln for ln in tool_check if ln.startswith("compile check failed")]
        if tool_failed:  # nothing was written: apply without the check, then compare with gcc below
            rc, log = fix_run(sd, copy, args.jobs, "--apply", "--unsafe-fixes")
        written = [p for p in copy.rglob("*") if p.is_file() and before.get(p) != p.read_bytes()]
        left = len(scan(sd, copy, args.jobs, True))
        tool = (f"{len(tool_check) - len(tool_failed)}/{len(tool_check)} ok" if tool_check else "-")
        if tool_failed:
            tool += ": " + tool_failed[0].split("failed: ", 1)[1][:120]
        new, same = [], 0
        if written:
            for tu in build_tus(sd, copy):
                patched = gcc_errors(tu, copy, sd, args.cc)
                orig = gcc_errors(root / tu.relative_to(copy), root, sd, args.cc)
                for target, errs in patched.items():
                    same += len(errs & orig[target])
                    new += [f"{tu.relative_to(copy)} [{target}]: {e}" for e in sorted(errs - orig[target])]
        gcc = ("-" if not written else "yes" if not new and not same else
               f"no new errors ({same} also unpatched)" if not new else f"NO: {new[0][:150]}")
        row = (f"| {sd.name} | {sd.version} | {len(findings)} | {offered} ({safe} safe) | {fixable(log)} | "
               f"{left} | {len(written)} | {tool} | {gcc} |")
        return row, bool(new) or rc not in (0, 1)


def fix_table(args) -> int:
    print("| package | version | findings | fixes offered | applied | findings left | files written "
          "| `--check-compile` | gcc 3.11/3.13 ± Py_GIL_DISABLED |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |")
    bad = False
    for sd in corpus.ALL:
        if args.half and sd.half != args.half:
            continue
        row, failed = fix_row(sd, corpus.unpack(sd), args)
        print(row, flush=True)
        bad |= failed
    return int(bad)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write-missing", action="store_true", help="append unjudged findings to the TOML files")
    ap.add_argument("--fix-table", action="store_true", help="fix table on temporary copies")
    ap.add_argument("--half", choices=HALVES, help="only the packages of one half (default: both)")
    ap.add_argument("--no-cache", action="store_true")
    ap.add_argument("-j", "--jobs", type=int, default=2)
    ap.add_argument("--cc", default=os.environ.get("CC", "gcc"))
    args = ap.parse_args()
    return fix_table(args) if args.fix_table else precision(args)


if __name__ == "__main__":
    sys.exit(main())
