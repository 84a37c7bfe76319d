"""Shared analysis of the borrowed-reference rules (FT1xx); defines no rule.

A borrowed reference from a container is only a race when another thread can reach the container.
Per use, the container expression is classified from the enclosing function's comment-free text
(header-independent, macros and calls alike):
- guarded: inside a critical section on the container (or on the object owning the field) or a lock;
- tuple: immutable (the METH_VARARGS args tuple, a PyTuple_New/PySequence_Tuple result, a value
  proven a tuple by PyTuple_Check);
- kwargs: the keyword-arguments dict a call receives (a fresh dict per call);
- private: a list/dict/cell this function created (data/apis.toml [fresh]) and has not published
  before the use (stored in a field/global/other container, passed to a call that may keep it);
- anything else (fields, globals, parameters, call results) may be shared: a finding.
Uses whose result is discarded or only compared against NULL, uses in preprocessor branches that a
free-threaded build never compiles, and uses in tp_traverse functions (run with the world stopped)
are not findings either.  Text is decoded as latin-1 so that string offsets are byte offsets.
"""

from __future__ import annotations

import re
from collections import defaultdict

from extmigrate import kb
from extmigrate.model import Finding, Site
from extmigrate.rules.base import Rule
from extmigrate.regions import blank_comments, guard_at
from extmigrate.rules._ppbranch import dead_ranges, in_dead_branch
from extmigrate.tree import K, Node, TUView, Use, split_args

KB = kb.load()
_CAST = re.compile(r"^\(\s*(?:const\s+|struct\s+)*[A-Za-z_]\w*\s*\**\s*(?:const\s*)?\)\s*")
_IDENT = re.compile(r"[A-Za-z_]\w*")
_KW_PARAM = re.compile(r"^(kw\w*|keywds|keywords?)$", re.I)
_NOT_CALLS = {"if", "while", "for", "switch", "return", "sizeof", "do", "else", "case", "defined"}
_NULLISH = {"NULL", "0", "nullptr", "Py_None"}
_ASSIGN = re.compile(r"(?<![=!<>+\-*/%&|^])=(?!=)")
_INCREF = re.compile(r"\b(?:Py_X?INCREF|Py_X?NewRef)\s*\(\s*$")
_EXITS = re.compile(r"\b(return|goto|break|continue|Py_RETURN_\w+)\b")
_COMPARED = re.compile(r"^\s*\)*\s*[=!]=\s*\(?\s*(?:NULL|0|nullptr|Py_None)\b")


def norm(expr: str) -> str:
    """'(PyObject *) ( self->items )' -> 'self->items'."""
    e = expr.strip()
    while True:
        prev = e
        e = _CAST.sub("", e)
        m = re.fullmatch(r"_?Py(?:Object)?_CAST\((.*)\)", e, re.S)
        if m:
            e = m.group(1).strip()
        if e.startswith("(") and e.endswith(")") and _balanced(e[1:-1]):
            e = e[1:-1].strip()
        if e == prev:
            return re.sub(r"\s+", "", e)


def _balanced(s: str) -> bool:
    depth = 0
    for ch in s:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def _tu_index(tu: TUView) -> dict:
    """Per-TU facts the rules share: nodes by function, method-table flags, dead branches."""
    idx = tu.__dict__.get("_borrowed_index")
    if idx is None:
        by_func: dict[int, dict[str, list[Node]]] = defaultdict(lambda: defaultdict(list))
        for kind, key in ((K.VAR_DECL, "vars"), (K.FOR_STMT, "loops"), (K.WHILE_STMT, "loops"),
                          (K.DO_STMT, "loops"), (K.IF_STMT, "ifs")):
            for n in tu.of_kind(kind):
                if n.func is not None:
                    by_func[id(n.func)][key].append(n)
        idx = tu.__dict__["_borrowed_index"] = {"by_func": by_func, "texts": {}, "dead": {},
                                                "flags": None, "funcs": {}}
    return idx


def file_text(tu: TUView, path: str) -> str:
    texts = _tu_index(tu)["texts"]
    if path not in texts:
        texts[path] = blank_comments(tu.source(path).decode("latin-1"))
    return texts[path]


def _dead(tu: TUView, path: str) -> list[tuple[int, int]]:
    dead = _tu_index(tu)["dead"]
    if path not in dead:
        dead[path] = dead_ranges(file_text(tu, path))
    return dead[path]


def method_flags(tu: TUView) -> dict[str, str]:
    """Function name -> METH_* flags text, from the PyMethodDef tables of the TU's project files."""
    idx = _tu_index(tu)
    if idx["flags"] is None:
        out: dict[str, str] = {}
        for path in tu.files:
            text = file_text(tu, path)
            seen: set[int] = set()
            for m in re.finditer(r"\bMETH_[A-Z]+", text):
                open_at = _unclosed(text, m.start(), "{", "}")
                if open_at is None or open_at in seen:
                    continue
                seen.add(open_at)
                fields = split_args("(" + text[open_at + 1:m.end() + 200].split("}")[0] + ")")
                for i, f in enumerate(fields):
                    if "METH_" in f and i > 0:
                        names = _IDENT.findall(fields[i - 1])
                        if names:
                            out[names[-1]] = f
                        break
        idx["flags"] = out
    return idx["flags"]


def _unclosed(text: str, pos: int, opener: str, closer: str, stop: str = "") -> int | None:
    """Offset of the innermost `opener` left open before pos (None past a `stop` char at depth 0)."""
    depth = 0
    for i in range(pos - 1, -1, -1):
        ch = text[i]
        if ch == closer:
            depth += 1
        elif ch == opener:
            if depth == 0:
                return i
            depth -= 1
        elif depth == 0 and ch in stop:
            return None
    return None


class FuncInfo:
    """One function's comment-free text, parameters, locals and loops (offsets are file offsets)."""

    def __init__(self, tu: TUView, func: Node):
        self.tu, self.func = tu, func
        self.path, self.base, end = func.extent()[:3]
        self.text = file_text(tu, self.path)[self.base:end]
        self.params = [(p.spelling, p.cursor.type.spelling) for p in tu.children_of(func)
                       if p.kind == K.PARM_DECL]
        nodes = _tu_index(tu)["by_func"][id(func)]
        self.locals = {v.spelling for v in nodes["vars"]}
        self.loops = [(n.start, n.end) for n in nodes["loops"]]
        self.ifs = nodes["ifs"]

    @classmethod
    def of(cls, tu: TUView, func: Node) -> "FuncInfo":
        funcs = _tu_index(tu)["funcs"]
        if id(func) not in funcs:
            funcs[id(func)] = cls(tu, func)
        return funcs[id(func)]

    # -- text helpers (absolute offsets in, absolute offsets out) ------------------------------
    def at(self, off: int) -> str:
        return self.text[off - self.base:]

    def before(self, off: int) -> str:
        return self.text[:off - self.base]

    def stmt_start(self, off: int) -> int:
        text = self.before(off)
        i = max(text.rfind(";"), text.rfind("{"), text.rfind("}"))
        return self.base + i + 1

    def reaches(self, off: int, at: int) -> bool:
        """Can code at `off` run before the use at `at` (earlier, or later in a shared loop)?"""
        return off < at or any(s <= at < e and s <= off < e for s, e in self.loops)

    def loop_at(self, off: int) -> list[int] | None:
        """[start, end] of the innermost loop statement around `off`."""
        inner = [(s, e) for s, e in self.loops if s <= off < e]
        return list(min(inner, key=lambda r: r[1] - r[0])) if inner else None

    def top_level(self, off: int) -> bool:
        """Is `off` a statement of the function body itself (not inside a nested block)?"""
        head = self.before(off)
        return head.count("{") - head.count("}") == 1

    def occurrences(self, name: str) -> list[int]:
        return [self.base + m.start() for m in re.finditer(rf"(?<![\w.>]){re.escape(name)}\b", self.text)]

    def assignments(self, name: str) -> list[tuple[int, str | None]]:
        """(offset, right-hand side) of every assignment; None for `&name` (set through a pointer)."""
        out = []
        for m in re.finditer(rf"(?<![\w.>]){re.escape(name)}\s*(?:\[[^\]]*\]\s*)?=(?!=)", self.text):
            if "[" in m.group(0):
                continue
            out.append((self.base + m.start(), _rhs(self.text, m.end())))
        for m in re.finditer(rf"(?<!&)&\s*{re.escape(name)}\b(?!\s*(?:->|\.|\[))", self.text):
            out.append((self.base + m.start(), None))
        return out


def _rhs(text: str, pos: int) -> str:
    depth, i = 0, pos
    while i < len(text):
        ch = text[i]
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth < 0:
                break
        elif ch in ";," and depth == 0:
            break
        i += 1
    return text[pos:i].strip()


# -- what a container expression is -------------------------------------------------------------
def _call_name(expr: str) -> tuple[str, list[str]] | None:
    m = re.match(r"([A-Za-z_]\w*)\s*\(", expr)
    if not m or not expr.endswith(")") or not _balanced(expr[m.end() - 1:]):
        return None
    return m.group(1), split_args(expr)


def _build_value_kind(args: list[str]) -> str | None:
    if not args:
        return None
    fmt = re.fullmatch(r'"((?:[^"\\]|\\.)*)"', args[0].strip())
    if not fmt:
        return None
    f = fmt.group(1).strip()
    if f.startswith("[") and f.endswith("]"):
        return "list"
    if f.startswith("{") and f.endswith("}"):
        return "dict"
    return "tuple" if f.startswith("(") or len(re.findall(r"[A-Za-z&]", f)) != 1 else None


def param_kind(fi: FuncInfo, name: str) -> str | None:
    """'tuple' (positional args tuple, kwnames), 'kwargs' (keyword dict) or None, for a parameter."""
    names = [p for p, _ in fi.params]
    if name not in names:
        return None
    i, ptype = names.index(name), dict(fi.params)[name].replace(" ", "")
    if ptype not in ("PyObject*", "PyObject*const"):
        return None
    flags = method_flags(fi.tu).get(fi.func.spelling, "")
    if "METH_FASTCALL" in flags:
        return "tuple" if i == 3 and "METH_KEYWORDS" in flags else None
    if "METH_VARARGS" in flags:
        return "tuple" if i == 1 else ("kwargs" if i == 2 and "METH_KEYWORDS" in flags else None)
    if "METH_O" in flags or "METH_NOARGS" in flags:
        return None
    if name == "kwnames":
        return "tuple"
    if _KW_PARAM.match(name):
        return "kwargs"
    if i == 1 and (name == "args" or (len(names) == 3 and _KW_PARAM.match(names[2]))):
        return "tuple"
    return None


def _proven_tuple(fi: FuncInfo, name: str, at: int) -> bool:
    """An `if (PyTuple_Check(name))` around the use, or an `if (!PyTuple_Check(name)) return` before."""
    check = re.compile(rf"(!\s*)?\bPyTuple_Check(?:Exact)?\s*\(\s*{re.escape(name)}\s*\)")
    for node in fi.ifs:
        kids = fi.tu.children_of(node)
        if len(kids) < 2:
            continue
        cond = file_text(fi.tu, fi.path)[kids[0].start:kids[0].end]
        m = check.search(cond)
        if not m:
            continue
        then = kids[1]
        if m.group(1):
            body = file_text(fi.tu, fi.path)[then.start:then.end]
            if node.end <= at and _EXITS.search(body):
                return True
        elif "||" not in cond and then.start <= at < then.end:
            return True
    return False


def provenance(fi: FuncInfo, expr: str, at: int, depth: int = 0) -> tuple[str | None, int | None]:
    """('tuple'|'kwargs'|'private'|None, offset of a publication that spoiled 'private')."""
    if depth > 4:
        return None, None
    e = norm(expr)
    call = _call_name(e)
    if call:
        kind = _call_kind(fi, call, at, depth)
        return ("tuple", None) if kind == "tuple" else (None, None)
    if not _IDENT.fullmatch(e):
        return None, None
    is_param = e in {p for p, _ in fi.params}
    if not is_param and e not in fi.locals:
        return None, None  # a global or a macro
    if _proven_tuple(fi, e, at):
        return "tuple", None
    kinds: list[str | None] = [param_kind(fi, e)] if is_param else []
    fresh_from = None
    for off, rhs in sorted(fi.assignments(e), key=lambda a: a[0]):
        if not fi.reaches(off, at):
            continue
        if off < at and fi.top_level(off):  # runs on every path to the use: earlier values are gone
            kinds, fresh_from = [], None
        if rhs is None:
            kinds.append(None)
            continue
        if norm(rhs) in _NULLISH:
            continue
        kind = _rhs_kind(fi, rhs, off, depth)
        kinds.append(kind)
        if kind not in (None, "tuple", "kwargs"):
            fresh_from = off if fresh_from is None else min(fresh_from, off)
    if not kinds or None in kinds:
        return None, None
    if all(k == "tuple" for k in kinds):
        return "tuple", None
    if all(k == "kwargs" for k in kinds):
        return "kwargs", None
    if "kwargs" in kinds or fresh_from is None:
        return None, None
    spoiled = published(fi, e, fresh_from, at)
    return (None, spoiled) if spoiled is not None else ("private", None)


def _call_kind(fi: FuncInfo, call: tuple[str, list[str]], off: int, depth: int) -> str | None:
    name, args = call
    if name in KB.fresh:
        return KB.fresh[name]
    if name in KB.build_value:
        return _build_value_kind(args)
    if name in KB.same_or_tuple and args:
        kind, _ = provenance(fi, args[0], off, depth + 1)
        return kind if kind in ("tuple", "private") else None
    return None


def _rhs_kind(fi: FuncInfo, rhs: str, off: int, depth: int) -> str | None:
    e = norm(rhs)
    call = _call_name(e)
    if call:
        return _call_kind(fi, call, off, depth)
    if _IDENT.fullmatch(e):  # an alias: what the other variable is there
        kind, _ = provenance(fi, e, off, depth + 1)
        return kind
    return None


def published(fi: FuncInfo, name: str, start: int, at: int) -> int | None:
    """Offset where `name` (or a local alias of it) escapes between `start` and the use at `at`."""
    todo, seen = [name], set()
    while todo:
        var = todo.pop()
        if var in seen:
            continue
        seen.add(var)
        for off in fi.occurrences(var):
            if off < start or off == at or not fi.reaches(off, at):
                continue
            how = _occurrence(fi, var, off)
            if how == "escapes":
                return off
            if how and how.startswith("alias:"):
                todo.append(how[6:])
    return None


def _occurrence(fi: FuncInfo, var: str, off: int) -> str | None:
    """'escapes', 'alias:<local>' or None (a read that keeps the value private)."""
    after = fi.at(off + len(var))
    if re.match(r"\s*(?:->|\.|\[|(?<![=!<>])=(?!=))", after):
        return None
    s0 = fi.stmt_start(off)
    stmt = fi.text[s0 - fi.base:off - fi.base]
    if re.match(r"\s*return\b", stmt) or stmt.rstrip().endswith("&"):
        return None
    call = _enclosing_call(stmt + var)
    if call is not None:
        fname, index, arg = call
        if fname in _NOT_CALLS or norm(arg) != var:
            return None  # a condition, or part of a larger expression (a comparison ...)
        return None if index in KB.keeps_private.get(fname, ()) else "escapes"
    m = None
    for m in _ASSIGN.finditer(stmt):
        pass
    if m is None or norm(stmt[m.end():]) != "" or not re.match(r"\s*[;,)]", after):
        return None
    lhs = stmt[:m.start()].strip()
    target = _IDENT.findall(lhs)[-1] if re.search(r"[A-Za-z_]\w*\s*$", lhs) else None
    if target and target in fi.locals and re.fullmatch(r"(?:[\w\s]*\*?\s*)?" + target, lhs):
        return "alias:" + target
    return "escapes"


def _enclosing_call(text: str) -> tuple[str, int, str] | None:
    """The innermost call around the end of `text`: (callee or keyword, argument index, its text)."""
    end = len(text)
    while True:
        open_at = _unclosed(text, end, "(", ")")
        if open_at is None:
            return None
        m = re.search(r"([A-Za-z_]\w*)\s*$", text[:open_at])
        if m:
            args_text = text[open_at + 1:]
            commas, depth = [], 0
            for i, ch in enumerate(args_text):
                depth += {"(": 1, ")": -1, "[": 1, "]": -1, "{": 1, "}": -1}.get(ch, 0)
                if ch == "," and depth == 0:
                    commas.append(i)
            last = args_text[commas[-1] + 1:] if commas else args_text
            return m.group(1), len(commas), last
        end = open_at  # a cast or grouping parenthesis: look further out


# -- how the borrowed result is used ------------------------------------------------------------
def result_use(fi: FuncInfo, use: Use) -> tuple[str | None, str]:
    """(variable holding the result or None, 'returned'|'incref'|'stored'|'local'|'tested'|'discarded')."""
    s0 = fi.stmt_start(use.start)
    prefix = fi.text[s0 - fi.base:use.start - fi.base]
    suffix = fi.at(use.end)
    if _COMPARED.match(suffix):
        return None, "tested"
    if re.match(r"\s*return\b", prefix):
        return None, ("incref" if _INCREF.search(prefix) else "returned")
    if _INCREF.search(prefix):
        return None, "incref"
    stripped = re.sub(r"(\(\s*(?:const\s+)?[A-Za-z_]\w*\s*\**\s*\)\s*)+$", "", prefix.rstrip()).rstrip()
    m = re.search(r"(?<![=!<>])=\s*$", stripped)
    if m:
        lhs = stripped[:m.start()].strip().lstrip("(")
        var = _IDENT.findall(lhs)[-1] if _IDENT.search(lhs) else None
        if var and re.fullmatch(r"(?:[\w\s]*\*?\s*)?" + var, lhs):
            return var, _var_use(fi, var, use.end)
        return None, "stored"
    if not stripped.strip() and re.match(r"\s*;", suffix):
        return None, "discarded"
    if re.search(r"(?:\b(?:if|while)\s*\(|!|&&|\|\|)\s*$", stripped) and re.match(r"\s*(\)|&&|\|\|)", suffix):
        return None, "tested"
    return None, "local"


def _var_use(fi: FuncInfo, var: str, after: int) -> str:
    for off in fi.occurrences(var):
        if off < after:
            continue
        s0 = fi.stmt_start(off)
        prefix = fi.text[s0 - fi.base:off - fi.base]
        rest = fi.at(off + len(var))
        if re.match(r"\s*=(?!=)", rest):
            break  # reassigned
        if _INCREF.search(prefix):
            return "incref"
        if re.match(r"\s*return\b", prefix) and norm(prefix.strip()[6:] + var) == var:
            return "returned"
        m = _ASSIGN.search(prefix)
        if m and not re.search(r"\(", prefix[m.end():]) and not _IDENT.fullmatch(prefix[:m.start()].strip()):
            return "stored"
    return "local"


# -- the check itself ---------------------------------------------------------------------------
def exempt_function(fi: FuncInfo) -> bool:
    """tp_traverse functions run while every other thread is stopped."""
    return any(t.replace(" ", "") == "visitproc" for _, t in fi.params)


def check_uses(rule: Rule, tu: TUView, apis: list[kb.BorrowedApi], message) -> list[Finding]:
    """Findings for every unsafe use of `apis`; `message(api, container, args)` words them."""
    by_name = {a.name: a for a in apis}
    out: list[Finding] = []
    for use in tu.uses_of(*by_name):
        api = by_name[use.name]
        if use.func is None or in_dead_branch(_dead(tu, use.path), use.start):
            continue
        fi = FuncInfo.of(tu, use.func)
        if exempt_function(fi):
            continue
        args = use.args
        container = norm(args[api.container]) if api.container is not None and len(args) > api.container else ""
        var, how = result_use(fi, use)
        if how in ("tested", "discarded") and not api.out:
            continue
        related: list[Site] = []
        if container and api.holds not in ("weakref", "modules"):
            if _guarded(tu, use, container):
                continue
            kind, spoiled = provenance(fi, container, use.start)
            if kind == "private" or kind == "tuple" or (kind == "kwargs" and api.holds == "dict"):
                continue
            if spoiled is not None:
                line, col = _line_col(tu, use.path, spoiled)
                related.append(Site(use.path, line, col, f"'{container}' is made reachable here"))
        data = {"api": api.name, "container": container, "args": args, "macro": use.macro,
                "holds": api.holds, "remedy": api.remedy, "replacement": api.replacement,
                "since": api.since, "replacement_form": api.replacement_form, "compat": api.compat,
                "result_var": var, "result_use": how, "loop": fi.loop_at(use.start),
                "out": [norm(args[i]).lstrip("&") for i in api.out if i < len(args)]}
        shown = container or (norm(args[0]) if args else "")
        symbol = f"{api.name}({shown})"
        out.append(rule.finding(use, symbol, message(api, container, args), related=related,
                                data=data))
    return out


def _guarded(tu: TUView, use: Use, container: str) -> bool:
    if guard_at(tu, use.func, use.start, container):
        return True
    owner = re.match(r"([A-Za-z_]\w*)(?:->|\.)", container)
    return bool(owner and guard_at(tu, use.func, use.start, owner.group(1)))


def _line_col(tu: TUView, path: str, off: int) -> tuple[int, int]:
    head = tu.source(path)[:off]
    return head.count(b"\n") + 1, off - (head.rfind(b"\n") + 1) + 1


def replacement_text(api: kb.BorrowedApi) -> str:
    """'PyList_GetItemRef (3.13+, compat shim for older Pythons)'."""
    if api.compat == "all":
        return f"{api.replacement} (every supported Python has it)"
    return f"{api.replacement} ({api.since}+, compat shim for older Pythons)"


def call_text(api: kb.BorrowedApi, args: list[str]) -> str:
    shown = ", ".join(re.sub(r"\s+", " ", a) for a in args)
    return f"{api.name}({shown if len(shown) <= 60 else shown[:57] + '...'})"


def replace_message(api: kb.BorrowedApi, args: list[str], threat: str, tail: str = "") -> str:
    """'<call> returns a borrowed reference; <threat> while it is in use: use <X> and release it'."""
    return (f"{call_text(api, args)} returns a borrowed reference; {threat} while it is in use: "
            f"use {replacement_text(api)} and release the reference{tail}")


class BorrowedRule(Rule):
    """Base of the FT1xx rules: the APIs come from data/apis.toml, the wording from message()."""

    category = "borrowed-ref"
    severity = "warning"

    def message(self, api: kb.BorrowedApi, container: str, args: list[str]) -> str:
        raise NotImplementedError

    def check(self, tu: TUView) -> list[Finding]:
        return check_uses(self, tu, KB.for_rule(self.code), self.message)
