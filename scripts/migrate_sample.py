#!/usr/bin/env python3
"""Regenerate sample_ext/src/migrated/ from the legacy source, the way a user would migrate it.

    python scripts/migrate_sample.py [SAMPLE_DIR]

1. copy src/legacy/_lru.c to src/migrated/_lru.c (src/migrated/ is generated: it is emptied first);
2. `extmigrate fix --apply --unsafe-fixes src/migrated` (the unsafe fixes were reviewed: MIGRATION.md),
   again until it changes nothing more (a fix that conflicted with another one comes in the next pass);
3. if SAMPLE_DIR/manual-steps.patch exists: apply it with `patch` (the steps the tool leaves to the
   user, recorded in MIGRATION.md), then step 2 again.

Run it with the Python that has extmigrate installed. Exit 0: migrated, nothing left to fix;
1: written, but `extmigrate fix` left findings; 2: an error (nothing is trustworthy then).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = ["fix", "--apply", "--unsafe-fixes", "--no-progress", os.path.join("src", "migrated")]


def fail(msg: str) -> int:
    print(f"migrate_sample: {msg}", file=sys.stderr)
    return 2


MAX_PASSES = 5


def snapshot(folder: str) -> dict[str, bytes]:
    out = {}
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), "rb") as f:
            out[name] = f.read()
    return out


def fix(sample: str) -> int:
    """Run the fix command until the output stops changing; its last exit code."""
    out = os.path.join(sample, "src", "migrated")
    for _ in range(MAX_PASSES):
        before = snapshot(out)
        code = subprocess.run([sys.executable, "-m", "extmigrate", *FIX], cwd=sample).returncode
        if code not in (0, 1) or snapshot(out) == before:
            return code
    print(f"migrate_sample: still changing after {MAX_PASSES} passes of `extmigrate fix`", file=sys.stderr)
    return 2


def main(argv: list[str]) -> int:
    if importlib.util.find_spec("extmigrate") is None:
        return fail(f"extmigrate is not installed for {sys.executable}: run this with .venv/bin/python")
    sample = os.path.abspath(argv[0] if argv else os.path.join(ROOT, "sample_ext"))
    legacy = os.path.join(sample, "src", "legacy", "_lru.c")
    out = os.path.join(sample, "src", "migrated")
    if not os.path.isfile(legacy):
        return fail(f"{legacy}: not found")
    if os.path.isdir(out):
        if any(e.is_dir() or not e.name.endswith((".c", ".h")) for e in os.scandir(out)):
            return fail(f"{out}: holds files this script does not write; not touched")
        shutil.rmtree(out)
    os.makedirs(out)
    shutil.copyfile(legacy, os.path.join(out, "_lru.c"))
    code = fix(sample)
    patch = os.path.join(sample, "manual-steps.patch")
    if code in (0, 1) and os.path.isfile(patch):
        with open(patch, "rb") as f:
            proc = subprocess.run(["patch", "-p1", "--batch", "--forward", "--fuzz=0", "--no-backup-if-mismatch",
                                   "--reject-file=-", "-d", sample], stdin=f)
        if proc.returncode != 0:
            return fail(f"{patch} does not apply to what `extmigrate fix` wrote; update it")
        code = fix(sample)
    if code not in (0, 1):
        return fail(f"`extmigrate {' '.join(FIX)}` failed (exit {code})")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
