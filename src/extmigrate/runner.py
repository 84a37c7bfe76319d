"""Run TU analyses in worker processes that can be stopped: a hung or crashing parse never stops a scan."""

from __future__ import annotations

import multiprocessing as mp
import os
import time
import traceback
from multiprocessing.connection import Connection, wait
from typing import Callable, Iterator

from extmigrate.engine import TUResult, analyse
from extmigrate.flags import TUSpec

Task = tuple[TUSpec, list[str], list[str], list[str]]  # spec, rule codes, roots, extra args


def _worker(conn: Connection) -> None:
    while True:
        try:
            task = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        if task is None:
            return
        spec = task[0]
        try:
            result = analyse(*task)
        except RecursionError:
            result = TUResult(spec.path, error="the file is nested too deeply to analyse")
        except Exception as e:  # a rule bug must not end the scan; say which file and what
            tb = traceback.extract_tb(e.__traceback__)[-1]
            where = f"{os.path.basename(tb.filename)}:{tb.lineno}"
            result = TUResult(spec.path, error=f"internal error {type(e).__name__}: {e} (at {where})")
        conn.send(result)


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
