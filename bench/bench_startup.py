"""CLI start-up: ``syscontainers --help`` / ``--version`` vs the peers' ``--version``.

Each run is one process from fork to exit (``subprocess.run``), as an operator or a script
pays it. Peers: ostree (C), skopeo (Go), systemctl (C).
"""

from __future__ import annotations

import subprocess
import time

from common import SC, Row, Series, alternate, say


def _timed_process(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def bench_startup(runs: int) -> list[Row]:
    say("CLI start-up")
    peers = [Series("ostree --version"), Series("skopeo --version"),
             Series("systemctl --version")]
    peer_cmds = [["ostree", "--version"], ["skopeo", "--version"], ["systemctl", "--version"]]
    rows = []
    for flag in ("--version", "--help"):
        ours = Series(f"syscontainers {flag}")
        tools = [(ours, lambda r, flag=flag: _timed_process([str(SC), flag]))]
        if flag == "--version":      # the peers once, shared by both rows
            tools += [(s, lambda r, c=c: _timed_process(c)) for s, c in zip(peers, peer_cmds)]
        alternate(runs, tools)
        rows.append(Row("CLI start-up", flag, ours, peers, target="≤ 150 ms",
                        check=lambda row: row.ours.median <= 0.150))
    return rows
