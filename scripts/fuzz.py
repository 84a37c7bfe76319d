"""Run random bad inputs through the real `extmigrate scan` command line and report crashes.

    .venv/bin/python scripts/fuzz.py -n 300 [--seed 1] [--keep DIR]

Each case is a fresh folder with a few generated files (random bytes, truncated or garbled real C,
deep or recursive macros, NUL bytes, non-UTF-8 text and names, symlink loops, folders named like
sources, broken compile_commands.json, broken baselines) scanned by a fresh `python -m extmigrate scan`
process in a random output format.  A crash is a Python traceback, an exit code other than 0/1 (2 is
only allowed when the case passes a broken --baseline), or a scan that does not finish in time.
Crashing cases are copied to --keep for a look.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOOD = b"""\
#define PY_SSIZE_T_CLEAN
#include <Python.h>
static PyObject *cache = NULL;
static long counter;
static PyObject *get(PyObject *self, PyObject *args) {
    PyObject *list = PyList_New(0), *item;
    if (list == NULL) return NULL;
    item = PyList_GetItem(list, 0);
    counter++;
    if (cache == NULL) { cache = PyDict_New(); }
    return Py_BuildValue("O", item);
}
static PyMethodDef methods[] = {{"get", get, METH_VARARGS, NULL}, {NULL, NULL, 0, NULL}};
static PyModuleDef_Slot slots[] = {{0, NULL}};
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "m", NULL, 0, methods, slots};
PyMODINIT_FUNC PyInit_m(void) { return PyModuleDef_Init(&def); }
"""


def random_bytes(r: random.Random) -> bytes:
    return bytes(r.randrange(256) for _ in range(r.randrange(0, 20_000)))


def truncated(r: random.Random) -> bytes:
    return GOOD[: r.randrange(len(GOOD))]


def garbled(r: random.Random) -> bytes:
    data = bytearray(GOOD)
    for _ in range(r.randrange(1, 40)):
        i = r.randrange(len(data))
        op = r.randrange(3)
        if op == 0:
            data[i] = r.choice(b"{}();,*&#\"'\\\n\0\xff")
        elif op == 1:
            del data[i: i + r.randrange(1, 20)]
        else:
            data[i:i] = data[r.randrange(len(data)):][: r.randrange(1, 40)]
    return bytes(data)


def macros(r: random.Random) -> bytes:
    depth = r.randrange(5, 19)
    out = "#define A0(x) x\n" + "".join(f"#define A{i}(x) A{i - 1}(A{i - 1}(x))\n" for i in range(1, depth))
    out += "#define F(x) G(x)\n#define G(x) F(x)\n#define SELF SELF\n"
    return (out + f"int v = A{depth - 1}(1) + F(2) + SELF;\n").encode()


def nesting(r: random.Random) -> bytes:
    n = r.randrange(100, 6000)
    kind = r.randrange(3)
    if kind == 0:
        return b"int d = " + b"(" * n + b"1" + b")" * n + b";\n"
    if kind == 1:
        return b"void f(void) " + b"{" * n + b"}" * n + b"\n"
    return b"#include \"self.h\"\n" if r.random() < 0.5 else b"#if 1\n" * n + b"int x;\n"


def nul_bytes(r: random.Random) -> bytes:
    data = bytearray(GOOD)
    for _ in range(r.randrange(1, 10)):
        data.insert(r.randrange(len(data)), 0)
    return bytes(data)


def non_utf8(r: random.Random) -> bytes:
    return GOOD.replace(b"NULL;", "NULL; /* caf\u00e9 \u00fc */".encode("latin-1")) + b"\xff\xfe\xc3\x28\n"


def empty(r: random.Random) -> bytes:
    return b"" if r.random() < 0.5 else b"\n" * r.randrange(1, 1000)


SOURCES = [random_bytes, truncated, garbled, macros, nesting, nul_bytes, non_utf8, empty]


def compile_db(r: random.Random, folder: str) -> bytes:
    entries = [
        {"directory": r.choice([folder, ".", "rel/dir", "", 7]), "file": r.choice(["m0.c", "gone.c", "", 3]),
         r.choice(["command", "arguments", "nothing"]): r.choice([
             "cc -c m0.c", "cc \"unbalanced m0.c", "cc -std=c99999 -x cobol m0.c", ["cc", "-I", None, 5],
             "cc -include /no/such.h -DX= -U -I m0.c"])}
        for _ in range(r.randrange(0, 4))]
    return r.choice([b"", b"{", b"[" * 5000, b'{"a": 1}', json.dumps(entries).encode(), random_bytes(r)])


def baseline(r: random.Random) -> bytes:
    return r.choice([b"", b"[" * 5000, b'{"findings": [{"key": "k", "count": 1e999}]}',
                     b'{"findings": 3}', random_bytes(r), b'{"version": 1, "findings": []}'])


def make_case(r: random.Random, root: str) -> tuple[list[str], list[str]]:
    """Fill root with a random case; returns (extra CLI args, kinds of input)."""
    kinds: list[str] = []
    for i in range(r.randrange(1, 5)):
        gen = r.choice(SOURCES)
        kinds.append(gen.__name__)
        name = f"m{i}" + r.choice([".c", ".c", ".h", ".cpp"])
        if r.random() < 0.1:
            name = os.fsdecode(b"n\xe9" + name.encode())
            kinds.append("non-utf8-name")
        with open(os.path.join(os.fsencode(root), os.fsencode(name)), "wb") as f:
            f.write(gen(r))
    extra: list[str] = []
    if r.random() < 0.2:
        os.symlink("loop_b.c", os.path.join(root, "loop_a.c"))
        os.symlink("loop_a.c", os.path.join(root, "loop_b.c"))
        os.symlink(".", os.path.join(root, "again"))
        kinds.append("symlink-loop")
    if r.random() < 0.1:
        os.mkdir(os.path.join(root, "folder.c"))
        kinds.append("folder-named-x.c")
    if r.random() < 0.1:
        os.mkfifo(os.path.join(root, "pipe.c"))
        kinds.append("fifo")
    if r.random() < 0.3:
        with open(os.path.join(root, "compile_commands.json"), "wb") as f:
            f.write(compile_db(r, root))
        kinds.append("compile-db")
    if r.random() < 0.1:
        path = os.path.join(root, "..", f"baseline-{os.path.basename(root)}.json")
        with open(path, "wb") as f:
            f.write(baseline(r))
        extra += ["--baseline", path]
        kinds.append("baseline")
    if r.random() < 0.1:
        extra += ["--timeout", "0.05"]
        kinds.append("tiny-timeout")
    extra += ["--format", r.choice(["text", "json", "sarif"])]
    return extra, kinds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=100, help="number of cases")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", help="copy crashing cases here")
    ap.add_argument("--time-limit", type=float, default=300, help="seconds per scan process")
    ap.add_argument("--cache", action="store_true",
                    help="scan each case twice with a result cache: the warm scan must say the same")
    args = ap.parse_args()
    r = random.Random(args.seed)
    seen = collections.Counter()
    crashes = []
    start = time.time()
    with tempfile.TemporaryDirectory(prefix="extmigrate-fuzz-") as work:
        # A frozen copy of the package: edits made to the tree while this runs must not show as crashes.
        shutil.copytree(os.path.join(REPO, "src", "extmigrate"), os.path.join(work, "pkg", "extmigrate"),
                        ignore=shutil.ignore_patterns("__pycache__"))
        env = dict(os.environ, PYTHONPATH=os.path.join(work, "pkg"))
        for n in range(args.n):
            root = os.path.join(work, f"case{n}")
            os.mkdir(root)
            extra, kinds = make_case(r, root)
            seen.update(set(kinds))
            cache = ["--cache-dir", os.path.join(work, f"cache{n}")] if args.cache else ["--no-cache"]
            argv = [sys.executable, "-m", "extmigrate", "scan", root, *cache, "--no-config",
                    "--no-progress", "-j", "2", *extra]
            try:
                p = subprocess.run(argv, capture_output=True, timeout=args.time_limit, env=env)
                err = p.stderr.decode("utf-8", "replace")
                allowed = (0, 1, 2) if "baseline" in kinds else (0, 1)
                bad = "Traceback" in err or p.returncode not in allowed
                why = f"exit {p.returncode}: {err.strip().splitlines()[-1] if err.strip() else ''}"
                if args.cache and not bad and "tiny-timeout" not in kinds:
                    again = subprocess.run(argv, capture_output=True, timeout=args.time_limit, env=env)
                    if (again.returncode, again.stdout) != (p.returncode, p.stdout) or \
                            "Traceback" in again.stderr.decode("utf-8", "replace"):
                        bad, why = True, f"the warm scan differs (exit {again.returncode} vs {p.returncode})"
            except subprocess.TimeoutExpired:
                bad, why = True, f"no result after {args.time_limit:g} s"
            if bad:
                crashes.append((n, kinds, why))
                print(f"case {n} ({', '.join(kinds)}): CRASH {why}", flush=True)
                if args.keep:
                    shutil.copytree(root, os.path.join(args.keep, f"case{n}"), symlinks=True)
            shutil.rmtree(root, ignore_errors=True)
            if (n + 1) % 25 == 0:
                print(f"{n + 1} cases, {len(crashes)} crash(es), {time.time() - start:.0f} s", flush=True)
    print(f"\n{args.n} cases (seed {args.seed}) in {time.time() - start:.0f} s: {len(crashes)} crash(es)")
    print("inputs per kind: " + ", ".join(f"{k} {v}" for k, v in sorted(seen.items())))
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
