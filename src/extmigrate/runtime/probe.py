"""Runs INSIDE the interpreter under test (any Python 3): import modules in order, watch the GIL.

Kept free of extmigrate imports so it runs on a bare interpreter; stdout is one JSON document.
"""

import importlib
import json
import sys
import sysconfig
import traceback
import warnings


def gil_enabled():
    probe = getattr(sys, "_is_gil_enabled", None)
    return True if probe is None else bool(probe())


def main(names):
    out = {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "free_threaded_build": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
        "gil_at_start": gil_enabled(),
        "imports": [],
    }
    for name in names:
        before = gil_enabled()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                importlib.import_module(name)
                error = None
            except BaseException as e:  # report, don't crash: the next module still gets its turn
                error = "".join(traceback.format_exception_only(type(e), e)).strip()
        after = gil_enabled()
        gil_warnings = [str(w.message) for w in caught
                        if issubclass(w.category, RuntimeWarning) and "GIL" in str(w.message)]
        out["imports"].append({"module": name, "gil_before": before, "gil_after": after,
                               "enabled_gil": (not before) and after, "warnings": gil_warnings,
                               "error": error})
    out["gil_at_end"] = gil_enabled()
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1:])
