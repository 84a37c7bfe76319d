"""Run TU analyses in worker processes that can be stopped: a hung or crashing parse never stops a scan."""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
import time
import traceback
from multiprocessing.connection import Connection, wait
from typing import Callable, Iterator

from extmigrate.cache import ResultCache
from extmigrate.engine import TUResult, analyse, project_filter
from extmigrate.flags import include_dirs
from extmigrate.parse import with_pch

# spec, rule codes, roots, extra args (and the result cache to store the result in, if any)
Task = tuple


def _worker(conn: Connection) -> None:
    # What the worker inherited (modules, rules, the knowledge base) lives for its whole life: keep
    # it out of collections, and collect once per file instead of during the analysis.
    gc.collect()
    gc.freeze()
    gc.disable()
    while True:
        try:
            task = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        if task is None:
            return
        spec, store = task[0], (task[4] if len(task) > 4 else None)
        try:
            result = analyse(*task[:4])
        except RecursionError:
            result = TUResult(spec.path, error="the file is nested too deeply to analyse")
        except Exception as e:  # a rule bug must not end the scan; say which file and what
            tb = traceback.extract_tb(e.__traceback__)[-1]
            where = f"{os.path.basename(tb.filename)}:{tb.lineno}"
            result = TUResult(spec.path, error=f"internal error {type(e).__name__}: {e} (at {where})")
        if store is not None:
            store.put(spec, result)  # here, not in the parent: encoding a result is work too
        conn.send(result)
        del result
        # analyse() broke the view's cycles; what rules left in other cycles goes now, before the
        # next file (cheap: only this file's objects are tracked).
        gc.collect()


def _context():
    methods = mp.get_all_start_methods()
    return mp.get_context("fork" if "fork" in methods else "spawn")


class _Slot:
    def __init__(self, ctx):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child,), daemon=True)
        self.proc.start()
        child.close()
        self.task: Task | None = None
        self.deadline = 0.0

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.proc.join(timeout=1)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.join()
        self.conn.close()


def run(tasks: list[Task], jobs: int, timeout: float,
        progress: Callable[[int, int], None] | None = None) -> Iterator[TUResult]:
    """Yield one TUResult per task (in completion order)."""
    if not tasks:
        return
    ctx = _context()
    pending = list(reversed(tasks))
    slots = [_Slot(ctx) for _ in range(max(1, min(jobs, len(tasks))))]
    done = 0
    try:
        while pending or any(s.task for s in slots):
            for i, s in enumerate(slots):
                if s.task is None and pending:
                    task = pending.pop()
                    try:
                        s.conn.send(task)
                    except OSError:  # the worker died while idle: replace it
                        s.kill()
                        slots[i] = s = _Slot(ctx)
                        s.conn.send(task)
                    s.task = task
                    s.deadline = time.monotonic() + timeout
            busy = [s for s in slots if s.task is not None]
            now = time.monotonic()
            wait_for = max(0.0, min(s.deadline for s in busy) - now)
            ready = wait([s.conn for s in busy], timeout=wait_for)
            for i, s in enumerate(slots):
                if s.task is None:
                    continue
                result = None
                if s.conn in ready:
                    try:
                        result = s.conn.recv()
                    except (EOFError, OSError):
                        s.proc.join(timeout=5)  # the pipe closes before the exit status is known
                        code = s.proc.exitcode
                        result = TUResult(s.task[0].path, error=f"the parser crashed (exit {code})")
                        s.kill()
                        slots[i] = _Slot(ctx)
                elif time.monotonic() >= s.deadline:
                    result = TUResult(s.task[0].path, error=f"timed out after {timeout:g} s")
                    s.kill()
                    slots[i] = _Slot(ctx)
                if result is not None:
                    s.task = None
                    done += 1
                    if progress:
                        progress(done, len(tasks))
                    yield result
    finally:
        for s in slots:
            s.stop()


def run_with_cache(tasks: list[Task], jobs: int, timeout: float, store: ResultCache | None,
                   pch_dir: str, progress: Callable[[int, int], None] | None = None) -> Iterator[TUResult]:
    """Cached results first; the other files are parsed (on precompiled preludes) and stored."""
    todo: list[Task] = []
    done = 0
    for task in tasks:
        spec, _codes, _roots, extra = task
        hit = store.get(spec, include_dirs(list(spec.args) + extra)) if store else None
        if hit is None:
            todo.append(task)
            continue
        done += 1
        if progress:
            progress(done, len(tasks))
        yield hit
    if not todo:
        return
    specs = with_pch([t[0] for t in todo], todo[0][3], project_filter(todo[0][2]), pch_dir, jobs)
    todo = [(s,) + t[1:] + (store,) for s, t in zip(specs, todo)]

    def prog(n: int, _total: int) -> None:
        if progress:
            progress(done + n, len(tasks))

    yield from run(todo, jobs, timeout, prog)
