"""The scale curves as pictures: one PNG per curve under docs/perf/ (docs/performance.md,
"Scale curves", links them).

A :class:`Curve` is a workload measured at several sizes (containers, files, images): for
each line, one :class:`Series` per size. The picture shows the median at each size with the
min-max range as an error bar, both axes from zero (a cost that grows no faster than the work
is a straight line or below one), and the target as a dashed line where there is one.
matplotlib (Debian python3-matplotlib, installed by ``scripts/install-deps.sh --bench``) is
imported only when a picture is drawn; 640x400 pixels, no metadata, so the files stay small.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from common import Series

WIDTH, HEIGHT, DPI = 8, 5, 80          # inches at 80 dpi: 640x400 pixels


@dataclass
class Curve:
    """``stem``: the file name (docs/perf/<stem>.png); ``lines``: (label, one Series per
    point of ``points``, in order; a Series without values is left out)."""

    stem: str
    title: str
    xlabel: str
    points: list[int]
    lines: list[tuple[str, list[Series]]] = field(default_factory=list)
    target: tuple[float, str] | None = None     # (y in the series' unit, label)
    unit: str = "s"

    def line(self, label: str) -> list[Series]:
        """The series of ``label`` (added, one empty Series per point, if new)."""
        for name, series in self.lines:
            if name == label:
                return series
        series = [Series(label, unit=self.unit) for _ in self.points]
        self.lines.append((label, series))
        return series


def _scaled(value: float, unit: str) -> float:
    return value / 1e6 if unit == "B" else value


def draw(curve: Curve, out_dir: Path) -> Path:
    """Write ``out_dir/<stem>.png``; returns its path."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(WIDTH, HEIGHT), dpi=DPI)
    for label, series in curve.lines:
        done = [(x, s) for x, s in zip(curve.points, series) if s.values]
        if not done:
            continue
        xs = [x for x, _ in done]
        med = [_scaled(s.median, curve.unit) for _, s in done]
        low = [m - _scaled(s.spread[0], curve.unit) for m, (_, s) in zip(med, done)]
        high = [_scaled(s.spread[1], curve.unit) - m for m, (_, s) in zip(med, done)]
        ax.errorbar(xs, med, yerr=[low, high], marker="o", capsize=3, label=label)
    if curve.target is not None:
        ax.axhline(_scaled(curve.target[0], curve.unit), linestyle="--", color="grey",
                   label=curve.target[1])
    ax.set_title(curve.title)
    ax.set_xlabel(curve.xlabel)
    ax.set_ylabel("MB" if curve.unit == "B" else "seconds (median, min-max)")
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{curve.stem}.png"
    fig.savefig(path, dpi=DPI, metadata={"Software": None})
    plt.close(fig)
    return path


def draw_all(curves: list[Curve], out_dir: Path) -> list[Path]:
    return [draw(c, out_dir) for c in curves if any(s.values for _, ss in c.lines for s in ss)]
