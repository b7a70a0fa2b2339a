#!/usr/bin/env python3
"""`make mutation`: mutmut over the modules whose bugs cost most, one module at a time,
against the fast tests (tests/unit and the libostree store tests; configured in
pyproject.toml [tool.mutmut]). Prints killed/total per module and the survivors, and exits 1
when a module is under the target (docs/testing.md, "Mutation testing").

Accepted survivors (equivalent mutants, or a behaviour only the integration tests can see)
are listed with their reason in tests/mutation-accepted.txt; they do not count against the
score but are still printed.

    scripts/mutation.py [MODULE ...]     e.g. deploy.deployment images.layers
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULES = ["lock", "images.store.verify", "images.store.prune", "images.store.merge", "deploy.values",
           "deploy.render", "deploy.deployment", "deploy.hostfiles", "images.layers",
           "lifecycle.activation"]
TARGET = 0.85
KILLED = {1, 3, 36, -24, 24, 152, 255, -11, -9}     # mutmut's "killed", "timeout", "segfault"


def accepted() -> dict[str, str]:
    out = {}
    path = ROOT / "tests/mutation-accepted.txt"
    for line in path.read_text().splitlines() if path.exists() else ():
        name, _, why = line.partition("#")
        if name.strip():
            out[name.strip()] = why.strip()
    return out


def results(module: str) -> dict[str, int | None]:
    meta = ROOT / "mutants/src/syscontainers" / (module.replace(".", "/") + ".py.meta")
    return json.loads(meta.read_text())["exit_code_by_key"] if meta.exists() else {}


def run(module: str) -> None:
    children = os.environ.get("MUTATION_JOBS", str(os.cpu_count() or 2))
    subprocess.run([str(ROOT / ".venv/bin/mutmut"), "run", "--max-children", children,
                    f"syscontainers.{module}.*"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)


def report(module: str, ok_list: dict[str, str]) -> bool:
    codes = results(module)
    survivors = sorted(k for k, c in codes.items() if c not in KILLED)
    counted = [k for k in codes if k not in ok_list]
    killed = sum(1 for k in counted if codes[k] in KILLED)
    score = killed / len(counted) if counted else 1.0
    print(f"{module:20} {killed:5}/{len(counted):<5} killed {score:6.1%}"
          f"   ({len(codes)} mutants, {sum(1 for k in codes if k in ok_list)} accepted)")
    for name in survivors:
        why = ok_list.get(name)
        print(f"    {'accepted' if why else 'SURVIVED'} {name}" + (f"  # {why}" if why else ""))
    return score >= TARGET


def main(argv: list[str]) -> int:
    modules = argv or MODULES
    ok_list = accepted()
    if os.environ.get("MUTATION_REPORT_ONLY") != "1":
        # a fresh copy each run: mutmut's test-to-function map must see the current tests
        shutil.rmtree(ROOT / "mutants", ignore_errors=True)
        for module in modules:
            print(f"mutating {module} ...", flush=True)
            run(module)
    good = [report(m, ok_list) for m in modules]
    if not all(good):
        print(f"below the target of {TARGET:.0%} killed: see docs/testing.md, 'Mutation testing'")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
