"""A whole scan: files and flags in, filtered findings and per-file problems out."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from extmigrate import flags as flagmod
from extmigrate.brokenparse import missing_headers
from extmigrate.cache import ResultCache, default_dir as default_cache_dir, prune
from extmigrate.discover import build_files_around, discover
from extmigrate.flags import include_dirs
from extmigrate.model import Diagnostic, Finding
from extmigrate.suppress import apply_baseline, apply_suppressions, read_baseline

if TYPE_CHECKING:
    from extmigrate.engine import TUResult


@dataclass
class ScanOptions:
    paths: list[str]
    exclude: list[str] = field(default_factory=list)
    select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    compile_db: str | None = None
    python: str | None = None
    include_dirs: list[str] = field(default_factory=list)
    defines: list[str] = field(default_factory=list)
    undefines: list[str] = field(default_factory=list)
    gil_disabled: bool = False
    jobs: int = 0  # 0: all cores
    timeout: float = 60.0
    baseline: str | None = None
    use_suppressions: bool = True
    cache: bool = False  # reuse results of unchanged files (the CLI turns it on; --no-cache)
    cache_dir: str | None = None  # default: $XDG_CACHE_HOME/extmigrate


@dataclass
class ScanResult:
    findings: list[Finding] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (path, message)
    cython: list[str] = field(default_factory=list)
    files_scanned: int = 0
    suppressed: int = 0
    baselined: int = 0
    rule_codes: list[str] = field(default_factory=list)
    specs: dict[str, flagmod.TUSpec] = field(default_factory=dict)  # for fix --check-compile
    # Scanned files whose parse had errors (wherever the error sits: the file, a header it includes).
    files_with_errors: list[str] = field(default_factory=list)
    # (what `fix` fixes, what `fix --unsafe-fixes` fixes), counted by the scan command (fix/counts.py)
    fixable: tuple[int, int] | None = None
    scan_key: str | None = None  # the whole-scan cache key, when the cache is on
    # Findings in function bodies with parse errors: shown apart, not counted (brokenparse.py).
    low_confidence: list[Finding] = field(default_factory=list)
    # Each missing header once: {"header", "files", "include_dir"} (brokenparse.py).
    missing_headers: list[dict] = field(default_factory=list)
    # Source files analysed inside the TU that #includes them: fragment -> includer (unity.py).
    included: dict[str, str] = field(default_factory=dict)
    # C-API code in #if branches no configuration compiled (coverage.py): one dict per branch.
    unanalysed: list[dict] = field(default_factory=list)


def extra_args(opts: ScanOptions) -> list[str]:
    args = [f"-I{os.path.abspath(d)}" for d in opts.include_dirs]
    args += [f"-D{d}" for d in opts.defines] + [f"-U{u}" for u in opts.undefines]
    if opts.gil_disabled:
        args.append("-DPy_GIL_DISABLED=1")
    return args


def _wants_numpy(paths: list[str]) -> bool:
    for p in paths:
        try:
            with open(p, "rb") as f:
                if b"numpy/" in f.read(200_000):
                    return True
        except OSError:
            pass
    return False


def build_flags(opts: ScanOptions, files: list[str], headers: list[str]) -> flagmod.FlagSource:
    py = flagmod.python_paths(opts.python)
    base = [f"-I{d}" for d in dict.fromkeys([py["include"], py["platinclude"]])]
    if _wants_numpy(files + headers):
        np_inc = flagmod.numpy_include(opts.python)
        if np_inc:
            base.append(f"-I{np_inc}")
    base += flagmod.header_dir_flags(headers, opts.paths)
    source = flagmod.FlagSource(base_args=base)
    db_path = flagmod.find_database(opts.paths, opts.compile_db)
    if db_path:
        source.database, source.problems = flagmod.load_database(db_path)
    return source


def scan(opts: ScanOptions, progress=None) -> ScanResult:
    found = discover(opts.paths, opts.exclude)
    out = ScanResult(problems=list(found.problems), cython=found.cython)
    fs = build_flags(opts, found.sources, found.headers)
    out.problems += fs.problems
    roots = [os.path.abspath(p) for p in opts.paths]
    extra = extra_args(opts)
    total = len(found.sources) + len(found.headers)
    out.files_scanned = total
    specs = {p: fs.spec_for(p) for p in found.sources + found.headers}
    cache_dir = opts.cache_dir or default_cache_dir()
    store = scan_key = None
    if opts.cache:
        settings = ["select=" + ",".join(sorted(opts.select)), "ignore=" + ",".join(sorted(opts.ignore))]
        store = ResultCache(cache_dir, [*settings, *roots, *extra])
        scan_key = store.scan_key(list(specs.values()), build_files_around(opts.paths))
        search = sorted({d for s in specs.values() for d in include_dirs(list(s.args) + extra)})
        out.scan_key = scan_key
        done = store.get_scan(scan_key, search) if scan_key else None
        if done is not None:  # nothing changed since the last scan: its outcome, rules not even loaded
            if progress:
                progress(total, total)
            return _finish(opts, out, done, specs)
    done = _analyse(opts, found, specs, roots, extra, store, cache_dir, progress)
    if store is not None and scan_key and done.pop("complete"):
        store.put_scan(scan_key, done)
    if store is not None:
        prune(cache_dir)  # entries nobody used for a month (looked at once a day)
    return _finish(opts, out, done, specs)


def _analyse(opts: ScanOptions, found, specs: dict[str, flagmod.TUSpec], roots: list[str],
             extra: list[str], store: ResultCache | None, cache_dir: str, progress) -> dict:
    """Analyse (or take from the per-file cache) every file and combine the results: the outcome of a
    scan as plain data, which a later scan of the unchanged tree reuses as it is."""
    from extmigrate.coverage import unanalysed
    from extmigrate.engine import combine
    from extmigrate.parse import FLAGS_REJECTED
    from extmigrate.rules import select_rules
    from extmigrate.runner import run_with_cache
    from extmigrate.unity import fragments

    codes = [r.code for r in select_rules(opts.select, opts.ignore)]
    jobs = opts.jobs or os.cpu_count() or 1
    results: list[TUResult] = []
    total = len(found.sources) + len(found.headers)
    ran: list[str] = []
    own_problems: list[list[str]] = []

    def collect(batch: list[str], offset: int) -> None:
        def prog(done: int, n: int) -> None:
            if progress:
                progress(offset + done, total)
        ran.extend(batch)
        tasks = [(specs[p], codes, roots, extra) for p in batch]
        for r in run_with_cache(tasks, jobs, opts.timeout, store, pch_dir, prog):
            results.append(r)
            if r.error:
                own_problems.append([r.path, r.error])
            own_problems.extend([d.path, d.message] for d in r.diagnostics if d.message == FLAGS_REJECTED)

    with tempfile.TemporaryDirectory(prefix="extmigrate-pch-") as scratch:
        pch_dir = os.path.join(cache_dir, "pch") if opts.cache else scratch
        included = fragments(found.sources, specs)  # unity builds: analysed inside their includer
        units = [p for p in found.sources if p not in included]
        collect(units, 0)
        covered = {os.path.realpath(f) for r in results for f in r.files + r.includes}
        alone = [h for h in [p for p in found.sources if p in included] + found.headers
                 if os.path.realpath(h) not in covered]
        collect(alone, len(units))  # a header (or .c fragment) no TU covered is parsed on its own
    results.sort(key=lambda r: r.path)  # completion order differs from run to run
    if progress:
        progress(total, total)  # headers that a TU covered were never run on their own
    diagnostics = sorted({(d.path, d.line, d.column, d.message): d
                          for r in results for d in r.diagnostics}.values(),
                         key=lambda d: (d.path, d.line, d.column))
    return {"complete": not any(r.error for r in results), "codes": codes, "ran": ran,
            "problems": own_problems, "diagnostics": diagnostics,
            "files_with_errors": sorted({r.path for r in results
                                         if any(d.severity in ("error", "fatal") for d in r.diagnostics)}),
            "findings": combine(results, codes, roots), "results": results,
            "included": {p: i for p, i in sorted(included.items()) if p not in ran},
            "unanalysed": unanalysed(results)}


def _finish(opts: ScanOptions, out: ScanResult, done: dict, specs: dict[str, flagmod.TUSpec]) -> ScanResult:
    """Fill the ScanResult from a scan's outcome (fresh or cached), then suppressions and baseline."""
    out.problems += [tuple(p) for p in done["problems"]]
    out.rule_codes = list(done["codes"])
    out.specs = {os.path.realpath(p): specs[p] for p in done["ran"] if p in specs}
    out.diagnostics = list(done["diagnostics"])
    out.files_with_errors = list(done["files_with_errors"])
    out.included = dict(done.get("included", {}))
    out.unanalysed = list(done.get("unanalysed", []))
    out.missing_headers = missing_headers(out.diagnostics, opts.paths)
    findings = list(done["findings"])
    if opts.use_suppressions:
        findings, out.suppressed = apply_suppressions(findings)
    if opts.baseline:
        findings, out.baselined = apply_baseline(findings, read_baseline(opts.baseline),
                                                 baseline_root(opts.baseline))
    out.findings = [f for f in findings if f.confidence != "low"]
    out.low_confidence = [f for f in findings if f.confidence == "low"]
    return out


def baseline_root(baseline_path: str) -> str:
    """Baseline keys hold paths relative to the baseline file's folder."""
    return os.path.dirname(os.path.abspath(baseline_path))
