"""The results table, written into docs/performance.md between two marker lines.

Only the part between ``BEGIN`` and ``END`` is replaced; the analysis written by hand around it
(what was profiled, what was fixed, what remains) stays as it is.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from common import Row, Series

BEGIN = "<!-- bench:results:begin (written by `make bench`; do not edit by hand) -->"
END = "<!-- bench:results:end -->"

_SKELETON = f"""# Performance

{BEGIN}
{END}
"""


def fmt(value: float, unit: str) -> str:
    if unit == "B":
        return f"{value / 1e6:.1f} MB"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.2f} s"


def _cell(series: Series) -> str:
    lo, hi = series.spread
    text = f"{fmt(series.median, series.unit)} ({fmt(lo, series.unit)}–{fmt(hi, series.unit)})"
    if series.cpu and len(series.cpu) == len(series.values) and series.median >= 0.2:
        text += f"; CPU {fmt(statistics.median(series.cpu), 's')}"
    return text


def _verdict(row: Row) -> str:
    met = row.met
    return "" if met is None else ("met" if met else "**missed**")


def _ratio_cell(row: Row, peer, ratio: float | None) -> str:
    if ratio is None:
        return ""
    cpu = row.cpu_ratio(peer) if peer is not None and peer.median >= 0.2 else None
    return f"{ratio:.2f}" + (f"; CPU {cpu:.2f}" if cpu is not None else "")


def table(rows: list[Row]) -> str:
    lines = ["| Workload | Data | syscontainers: median (min–max) | Peer | Peer: median (min–max) "
             "| Ratio ours/peer | Target | |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        peers = row.peers or [None]
        for i, peer in enumerate(peers):
            first = i == 0
            ratio = row.ratio(peer) if peer is not None else None
            lines.append("| " + " | ".join([
                row.workload if first else "",
                row.data if first else "",
                f"{row.ours.label}: {_cell(row.ours)}" if first else "",
                peer.label if peer else "",
                _cell(peer) if peer and peer.values else "",
                _ratio_cell(row, peer, ratio),
                row.target if first else "",
                _verdict(row) if first else "",
            ]) + " |")
    return "\n".join(lines)


def section(rows: list[Row], facts: dict[str, str], context: list[str]) -> str:
    notes = [f"- {row.workload} ({row.data}): {row.note}" for row in rows if row.note]
    parts = [
        "## Latest results",
        "",
        "\n".join(f"- **{k}**: {v}" for k, v in facts.items()),
        "",
        table(rows),
        "",
        *context,
    ]
    if notes:
        parts += ["", "Notes:", *notes]
    return "\n".join(parts)


def write(doc: Path, text: str) -> None:
    """Replace the marked section of ``doc`` (created with a skeleton if missing)."""
    old = doc.read_text() if doc.exists() else _SKELETON
    if BEGIN not in old or END not in old:
        old = old.rstrip("\n") + "\n\n" + BEGIN + "\n" + END + "\n"
    head, rest = old.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    doc.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")
