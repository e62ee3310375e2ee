"""What importing a module costs a serving process, measured by what it loads (not by the clock).

A timed assertion flakes on a busy machine; the set of modules an import pulls in does not. "Light" here
means: nothing outside the standard library and mlmon itself, and few standard-library modules, so that a
heavy import (Polars, typer, rich, asyncio, email, http.client ...) added to the path fails the test."""
import json
import subprocess
import sys

PROBE = """
import json, sys, sysconfig
before = set(sys.modules)
import {module}
new = sorted(set(sys.modules) - before)
paths = sysconfig.get_paths()
std = (paths["stdlib"], paths["platstdlib"])
def third_party(name):
    if name == "mlmon" or name.startswith("mlmon."):
        return False
    f = getattr(sys.modules[name], "__file__", None)
    return bool(f) and not f.startswith(std)
print(json.dumps({{"new": new, "third_party": [m for m in new if third_party(m)]}}))
"""


def modules_loaded_by(module: str, cwd) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE.format(module=module)], capture_output=True, text=True,
                         check=True, cwd=cwd).stdout
    return json.loads(out)
