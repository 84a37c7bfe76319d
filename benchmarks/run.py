"""Scan speed against `gcc -fsyntax-only` on real C-extension sdists (issue 6).

    .venv/bin/python benchmarks/run.py [--runs 3] [--jobs N] [--only pillow,yappi]

Fetches the pinned sdists (benchmarks/corpus.py: by PyPI URL, sha256-checked, unpacked as data, never
built), then per package, each the median of --runs fresh processes:
  gcc -j1 / gcc -jN  `gcc -fsyntax-only` on every TU, with the flags the scan uses, one process per TU;
  cold               `extmigrate scan` with an empty result cache;
  warm               the same scan again, the tree unchanged.
TUs that gcc rejects (a header of a library that is not installed) are left out of both sides, and so
are headers on their own (the scan analyses them as part of the TUs that include them, as gcc does).
The extmigrate package is copied to the cache first, so that edits made while it runs cannot
change the tool fingerprint (which would turn warm scans cold).  Peak RSS is the largest sum of the
resident sizes of the scan process and its workers, sampled every 10 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "src"))

import corpus  # noqa: E402

from extmigrate.discover import discover  # noqa: E402
from extmigrate.parse import clang_args, clang_version  # noqa: E402
from extmigrate.scan import ScanOptions, build_flags  # noqa: E402

# The shared corpus without mysqlclient (its headers are not installed: nothing would parse),
# plus one large project.
BENCH = tuple(sd for sd in corpus.PINNED if sd.name != "mysqlclient") + (
    corpus.Sdist("pillow", "13.0.0", "cdcd1ba258178f7356d74170c9a81ba4eab6a5d55748bc402a5a2a6fe6be3510"),
)


HEADER_GLOBS = ("*.h", "*.hh", "*.hpp", "*.hxx")


def gcc_command(spec) -> list[str]:
    """The scan's own arguments, minus the clang-only ones."""
    args = [a for a in clang_args(spec) if not a.startswith(("-working-directory", "-ferror-limit"))]
    return ["gcc", "-fsyntax-only", *args, spec.path]


def gcc_jobs(root: Path) -> tuple[list[tuple[list[str], str]], list[str]]:
    """([(gcc argv, cwd)] for the TUs gcc accepts, [the TUs it rejects])."""
    found = discover([str(root)])
    fs = build_flags(ScanOptions(paths=[str(root)]), found.sources, found.headers)
    good, bad = [], []
    for path in found.sources:
        spec = fs.spec_for(path)
        cmd = gcc_command(spec)
        ok = subprocess.run(cmd, cwd=spec.directory, capture_output=True).returncode == 0
        (good if ok else bad).append((cmd, spec.directory) if ok else path)
    return good, bad


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def time_gcc(jobs: list[tuple[list[str], str]], parallel: int) -> tuple[float, float]:
    """(wall, CPU) seconds of gcc over every TU, `parallel` at a time."""
    def one(job):
        subprocess.run(job[0], cwd=job[1], capture_output=True, check=True)

    cpu, start = _children_cpu(), time.perf_counter()
    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(one, jobs))
    return time.perf_counter() - start, _children_cpu() - cpu


def _tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants (Linux /proc)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except (OSError, ValueError):
            continue
    return total


def run_scan(argv: list[str], env: dict) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, peak tree RSS bytes) of one fresh scan process and its workers."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=err)
        ended: list = []

        def reap() -> None:  # the end time exactly, not at the next RSS sample
            ended.extend(os.wait4(proc.pid, 0)[1:])
            ended.append(time.perf_counter())

        waiter = threading.Thread(target=reap)
        waiter.start()
        peak = 0
        while waiter.is_alive():
            peak = max(peak, _tree_rss(proc.pid))
            waiter.join(0.01)
        status, usage, end = ended
        wall = end - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode not in (0, 1):
            err.seek(0)
            raise RuntimeError(f"scan failed ({proc.returncode}): {err.read().decode(errors='replace')[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, peak


def findings_of(report: Path) -> list:
    with open(report) as f:
        doc = json.load(f)
    return sorted(json.dumps(x, sort_keys=True) for x in doc["findings"])


def snapshot(dest: Path) -> dict:
    """A frozen copy of the extmigrate package, and the environment that runs it."""
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(REPO / "src" / "extmigrate", dest / "extmigrate",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env = dict(os.environ, PYTHONPATH=str(dest), PYTHONDONTWRITEBYTECODE="")
    return env


def machine() -> str:
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        with open("/proc/loadavg") as f:
            load = f.read().split()[0]
    except OSError:
        load = "?"
    gcc = subprocess.run(["gcc", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    return (f"{platform.platform()}; {os.cpu_count()} cores ({cpu}); Python {platform.python_version()}; "
            f"{gcc}; libclang {clang_version()}; load average at start {load}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--only", help="comma-separated package names")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()
    work = corpus.CACHE / "bench"
    work.mkdir(parents=True, exist_ok=True)
    env = snapshot(work / "snapshot")
    wanted = set(args.only.split(",")) if args.only else None
    print(machine(), flush=True)
    rows = []
    for sd in BENCH:
        if wanted and sd.name not in wanted:
            continue
        root = corpus.unpack(sd)
        jobs, rejected = gcc_jobs(root)
        if not jobs:
            print(f"{sd.name}: gcc accepts none of its TUs; skipped", flush=True)
            continue
        g1 = [time_gcc(jobs, 1) for _ in range(args.runs)]
        gn = [time_gcc(jobs, args.jobs) for _ in range(args.runs)]
        base = [sys.executable, "-m", "extmigrate", "scan", str(root), "--no-config", "--no-progress",
                "-j", str(args.jobs), "--format", "json"]
        for path in rejected:
            base += ["--exclude", path]
        for pattern in HEADER_GLOBS:  # headers no TU includes would be parsed on their own: not a TU
            base += ["--exclude", pattern]
        cold, warm, same = [], [], True
        for i in range(args.runs):
            with tempfile.TemporaryDirectory(prefix="bench-cache-") as cache:
                out_c, out_w = Path(cache) / "cold.json", Path(cache) / "warm.json"
                argv = base + ["--cache-dir", str(Path(cache) / "c")]
                cold.append(run_scan(argv + ["-o", str(out_c)], env))
                warm.append(run_scan(argv + ["-o", str(out_w)], env))
                same = same and findings_of(out_c) == findings_of(out_w)
        med = lambda runs, i: statistics.median(r[i] for r in runs)  # noqa: E731
        row = {
            "package": f"{sd.name} {sd.version}", "tus": len(jobs), "rejected": len(rejected),
            "gcc_j1": med(g1, 0), "gcc_jn": med(gn, 0), "gcc_cpu": med(g1, 1),
            "cold": med(cold, 0), "cold_cpu": med(cold, 1), "warm": med(warm, 0), "warm_cpu": med(warm, 1),
            "cold_rss": max(r[2] for r in cold), "warm_rss": max(r[2] for r in warm),
            "same_findings": same,
        }
        rows.append(row)
        print(fmt(row), flush=True)
    if rows:
        total = {k: sum(r[k] for r in rows)
                 for k in ("tus", "rejected", "gcc_j1", "gcc_jn", "gcc_cpu", "cold", "cold_cpu", "warm", "warm_cpu")}
        total.update(package="total", cold_rss=max(r["cold_rss"] for r in rows),
                     warm_rss=max(r["warm_rss"] for r in rows), same_findings=all(r["same_findings"] for r in rows))
        print()
        print(HEADER)
        for r in rows + [total]:
            print(fmt(r))
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"machine": machine(), "jobs": args.jobs, "runs": args.runs, "rows": rows + [total]},
                          f, indent=1)
    return 0


HEADER = ("| package | TUs | gcc -j1 | gcc -jN | cold | cold / gcc -j1 | cold / gcc -jN | cold TU/s | warm "
          "| warm / gcc -j1 | warm / gcc -jN | gcc CPU | cold CPU (ratio) | warm CPU (ratio) "
          "| peak RSS cold / warm | same findings |\n"
          "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")


def fmt(r: dict) -> str:
    return (f"| {r['package']} | {r['tus']} | {r['gcc_j1']:.2f} s | {r['gcc_jn']:.2f} s | {r['cold']:.2f} s "
            f"| {r['cold'] / r['gcc_j1']:.2f} | {r['cold'] / r['gcc_jn']:.2f} | {r['tus'] / r['cold']:.1f} "
            f"| {r['warm']:.2f} s | {r['warm'] / r['gcc_j1']:.3f} | {r['warm'] / r['gcc_jn']:.3f} | {r['gcc_cpu']:.2f} s "
            f"| {r['cold_cpu']:.2f} s ({r['cold_cpu'] / r['gcc_cpu']:.2f}) "
            f"| {r['warm_cpu']:.2f} s ({r['warm_cpu'] / r['gcc_cpu']:.3f}) "
            f"| {r['cold_rss'] / 2**20:.0f} / {r['warm_rss'] / 2**20:.0f} MB | {'yes' if r['same_findings'] else 'NO'} |")


if __name__ == "__main__":
    sys.exit(main())
