"""ThreadSanitizer reports: parse them, keep those in a project's own code, de-duplicate.

A report runs from `WARNING: ThreadSanitizer: KIND (pid=N)` (or, for a crash, `==N==ERROR:
ThreadSanitizer: SEGV on ...`) to its `SUMMARY:` line. Inside it, each stack is a title line
(`Write of size 8 at 0x.. by thread T1:`) followed by frames `#N function file:line[:col] (module+0xOFF)`; a frame without debug
information has `<null>` for its file (and for its function when the symbol is unknown).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

_HEAD = re.compile(r"WARNING: ThreadSanitizer: (?P<kind>.+?)(?: \(pid=(?P<pid>\d+)\))?\s*$")
# A fatal signal: `==PID==ERROR: ThreadSanitizer: SEGV on unknown address 0x0 (pc ...)`, then its frames.
_FATAL = re.compile(r"==(?P<pid>\d+)==ERROR: ThreadSanitizer: (?P<title>(?P<kind>\w+) on .*?)\s*$")
_FRAME = re.compile(r"^\s*#(?P<index>\d+) (?P<rest>.*?)\s*(?:\((?P<module>[^()\s]+)\+(?P<off>0x[0-9a-fA-F]+)\))?"
                    r"(?:\s*\(BuildId: [0-9a-fA-F]+\))?\s*$")
_LOC = re.compile(r"^(?P<path>.+?):(?P<line>\d+)(?::(?P<col>\d+))?$")
_GLOBAL = re.compile(r"Location is global '(?P<name>[^']+)'")
_TITLE = re.compile(r"^\s{2}(?P<title>\S.*?):?\s*$")
# Titles of the stacks that make the report: the two accesses of a race, the two lock orders.
_ACCESS = re.compile(r"^(?:Previous )?(?:[Aa]tomic )?(?:[Rr]ead|[Ww]rite)\b")
_PREVIOUS = re.compile(r"^Previous\b")
_MUTEX_ORDER = re.compile(r"^Mutex \S+ acquired here while holding")
_THREAD = re.compile(r"^Thread T\d+ .*created by")

# Report kinds, as TSan names them, and the short names extmigrate uses for them.
KINDS = {
    "data race": "data-race",
    "data race on vptr": "data-race",
    "heap-use-after-free": "heap-use-after-free",
    "lock-order-inversion": "lock-order-inversion",
    "thread leak": "thread-leak",
    "signal-unsafe call inside of a signal": "signal-unsafe-call",
    "use of an invalid mutex": "invalid-mutex",
    "unlock of an unlocked mutex": "invalid-mutex",
    "double lock of a mutex": "invalid-mutex",
    "SEGV": "crash", "BUS": "crash", "FPE": "crash", "ILL": "crash", "ABRT": "crash",
}


@dataclass(frozen=True)
class Frame:
    index: int
    function: str | None
    path: str | None
    line: int | None
    column: int | None
    module: str | None
    offset: int | None

    def where(self) -> str:
        """`file:line` when known, else `module+0xOFF`, else the function."""
        if self.path and self.line:
            return f"{self.path}:{self.line}"
        if self.module:
            return f"{os.path.basename(self.module)}+{self.offset:#x}"
        return self.function or "?"

    def to_dict(self) -> dict:
        return {"function": self.function, "path": self.path, "line": self.line,
                "column": self.column, "module": self.module, "offset": self.offset}


@dataclass
class Stack:
    title: str
    frames: list[Frame] = field(default_factory=list)

    @property
    def racing(self) -> bool:
        return bool(_ACCESS.match(self.title) or _MUTEX_ORDER.match(self.title))


@dataclass
class Report:
    kind: str            # short kind: data-race, heap-use-after-free, lock-order-inversion, ...
    pid: int | None
    stacks: list[Stack]
    location: str | None  # "global 'counter' of size 8 at ...", "heap block of size 16 at ..."
    summary: str | None
    source: str = ""     # the log file it came from

    @property
    def variable(self) -> str | None:
        m = _GLOBAL.search(f"Location is {self.location}") if self.location else None
        return m.group("name") if m else None

    def main_stacks(self) -> list[Stack]:
        """The stacks the report is about: both accesses of a race (the current one first),
        both lock orders of an inversion, or the leaked thread's creation."""
        racing = [s for s in self.stacks if s.racing]
        if racing:
            return racing[:2]
        leaked = [s for s in self.stacks if _THREAD.match(s.title)]
        return (leaked or self.stacks)[:2]


def _frame(m: re.Match) -> Frame:
    rest = m.group("rest").split()
    path = line = col = None
    func = None
    if rest:
        loc = rest[-1]
        lm = _LOC.match(loc)
        if lm and not loc.startswith("0x"):
            path, line = lm.group("path"), int(lm.group("line"))
            col = int(lm.group("col")) if lm.group("col") else None
            rest = rest[:-1]
        elif loc == "<null>" and len(rest) > 1:
            rest = rest[:-1]
        name = " ".join(rest)
        func = None if name in ("", "<null>") or name.startswith("0x") else name
    off = m.group("off")
    return Frame(int(m.group("index")), func, path, line, col, m.group("module"),
                 int(off, 16) if off else None)


def parse(text: str, source: str = "") -> list[Report]:
    """Every report in text (a TSan log file, or stderr with other output mixed in)."""
    reports: list[Report] = []
    cur: Report | None = None
    stack: Stack | None = None
    for raw in text.splitlines():
        head = _HEAD.search(raw)
        if head:
            kind = head.group("kind").replace(" (potential deadlock)", "").strip()
            cur = Report(KINDS.get(kind, kind.replace(" ", "-")),
                         int(head.group("pid")) if head.group("pid") else None, [], None, None, source)
            reports.append(cur)
            stack = None
            continue
        fatal = _FATAL.search(raw)
        if fatal:
            stack = Stack(fatal.group("title"))
            cur = Report(KINDS.get(fatal.group("kind"), "crash"), int(fatal.group("pid")), [stack], None, None,
                         source)
            reports.append(cur)
            continue
        if cur is None:
            continue
        if raw.startswith("SUMMARY: ThreadSanitizer:"):
            cur.summary = raw.split(":", 2)[2].strip()
            cur, stack = None, None
            continue
        fm = _FRAME.match(raw)
        if fm and stack is not None:
            stack.frames.append(_frame(fm))
            continue
        tm = _TITLE.match(raw)
        if tm and not raw.startswith("    "):
            title = tm.group("title")
            if title.startswith("Location is "):
                cur.location = title[len("Location is "):]
            stack = Stack(title)
            cur.stacks.append(stack)
    return reports


def read_logs(folder: str) -> list[Report]:
    """The reports of every log file TSan wrote into folder (`log_path=<folder>/tsan`: tsan.<pid>)."""
    reports: list[Report] = []
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return reports
    for name in names:
        path = os.path.join(folder, name)
        if not name.startswith("tsan") or not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            reports += parse(f.read(), path)
    return reports


class Project:
    """Which frames are the project's own: its source files (by path below root, or by the
    same trailing path when it was built elsewhere) and, for frames without a source line,
    the extension modules it built."""

    def __init__(self, root: str, files: list[str], modules: list[str] = ()):
        self.root = os.path.realpath(root)
        self.rel = {os.path.relpath(os.path.realpath(f), self.root).replace(os.sep, "/") for f in files}
        self.modules = {os.path.basename(m) for m in modules}

    def source(self, frame: Frame) -> str | None:
        """The project-relative path of frame's file, if it is one of the project's files."""
        if not frame.path:
            return None
        p = frame.path.replace(os.sep, "/")
        if not os.path.isabs(p):
            p = p[2:] if p.startswith("./") else p
            if p in self.rel:
                return p
            p = os.path.join(self.root, p)
        rel = os.path.relpath(os.path.realpath(p), self.root).replace(os.sep, "/")
        if rel in self.rel:
            return rel
        return next((r for r in self.rel if p.endswith("/" + r)), None)

    def owns(self, frame: Frame) -> bool:
        if self.source(frame):
            return True
        return frame.path is None and frame.module is not None and \
            os.path.basename(frame.module) in self.modules


@dataclass
class Site:
    """A racing stack's top frame in the project's code (where the project took part)."""

    path: str | None     # project-relative, None for a frame without a source line
    line: int | None
    function: str | None
    module: str | None
    offset: int | None
    stack: Stack
    depth: int = 0       # frames above it that are not the sanitizer's interceptors (memcpy, free, ...)

    def key(self) -> str:
        if self.path:
            return f"{self.path}:{self.line}"
        return f"{os.path.basename(self.module or '?')}:{self.function or hex(self.offset or 0)}"


@dataclass
class Race:
    """One de-duplicated report: same kind and the same pair of project sites."""

    kind: str
    sites: list[Site]          # one per main stack that reaches the project's code
    report: Report             # the first report seen
    variable: str | None
    count: int = 1

    @property
    def key(self) -> tuple:
        return (self.kind, tuple(sorted(s.key() for s in self.sites)))


def interceptor(frame: Frame) -> bool:
    """A frame of the sanitizer's runtime (its memcpy, malloc, pthread interceptors)."""
    return bool(frame.module) and os.path.basename(frame.module).startswith(("libtsan", "libclang_rt.tsan"))


def _site(stack: Stack, project: Project) -> Site | None:
    depth = 0
    for f in stack.frames:
        if project.owns(f):
            return Site(project.source(f), f.line, f.function, f.module, f.offset, stack, depth)
        depth += not interceptor(f)
    return None


def races(reports: list[Report], project: Project) -> list[Race]:
    """The reports with a frame in the project's code, one Race per kind and pair of sites."""
    found: dict[tuple, Race] = {}
    for rep in reports:
        sites = [s for s in (_site(st, project) for st in rep.main_stacks()) if s]
        if not sites:
            other = [s for s in (_site(st, project) for st in rep.stacks) if s]
            if not other:
                continue  # a race inside the interpreter or another library
            sites = other[:1]
        race = Race(rep.kind, sites, rep, rep.variable)
        seen = found.get(race.key)
        if seen:
            seen.count += 1
        else:
            found[race.key] = race
    return sorted(found.values(), key=lambda r: r.key)
