"""`extmigrate verify-import`: import modules in a child interpreter and report what the GIL did."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PROBE = Path(__file__).with_name("probe.py")


class VerifyError(Exception):
    pass


@dataclass
class Report:
    data: dict

    @property
    def failed(self) -> bool:
        """The GIL ended up enabled on a free-threaded build, or an import failed."""
        d = self.data
        return (d["free_threaded_build"] and d["gil_at_end"]) or any(i["error"] for i in d["imports"])

    def text(self) -> str:
        d = self.data
        build = "free-threaded" if d["free_threaded_build"] else "GIL"
        lines = [f"Python {d['python']} ({build} build) at {d['executable']}",
                 f"GIL at start: {'enabled' if d['gil_at_start'] else 'disabled'}"]
        for i in d["imports"]:
            state = f"GIL {'on' if i['gil_before'] else 'off'} -> {'on' if i['gil_after'] else 'off'}"
            mark = "ENABLED THE GIL" if i["enabled_gil"] else ("import failed" if i["error"] else "ok")
            lines.append(f"  import {i['module']}: {state}  [{mark}]")
            lines += [f"      warning: {w}" for w in i["warnings"]]
            if i["error"]:
                lines.append(f"      error: {i['error']}")
        if not d["free_threaded_build"]:
            lines.append("note: not a free-threaded build; run with --python python3.14t to check the GIL")
        culprit = next((i["module"] for i in d["imports"] if i["enabled_gil"]), None)
        if culprit:
            lines.append(f"The GIL was re-enabled by importing {culprit}: declare Py_MOD_GIL_NOT_USED "
                         "once the module is thread-safe (see `extmigrate scan`).")
        elif d["free_threaded_build"] and not d["gil_at_end"]:
            lines.append("The GIL stayed disabled.")
        return "\n".join(lines) + "\n"


def verify(modules: list[str], python: str | None = None, timeout: float = 120,
           cwd: str | None = None) -> Report:
    """Import `modules` in order in a child of `python`, run from `cwd` (which lands on its sys.path)."""
    exe = python or sys.executable
    env = dict(os.environ)
    env.pop("PYTHON_GIL", None)  # observe the default behaviour, not a forced one
    try:
        proc = subprocess.run([exe, "-c", PROBE.read_text(), *modules], capture_output=True, text=True,
                              timeout=timeout, env=env, cwd=cwd)
    except FileNotFoundError:
        raise VerifyError(f"no interpreter at {exe}") from None
    except subprocess.TimeoutExpired:
        raise VerifyError(f"{exe} did not finish importing within {timeout:g} s") from None
    try:
        return Report(json.loads(proc.stdout))
    except ValueError:
        detail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise VerifyError(f"{exe} could not run the import probe: {detail}") from None
