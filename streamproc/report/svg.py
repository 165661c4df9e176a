"""Small inline SVG charts for the HTML report: a statistic over time, grouped bars.

Pure functions from numbers to an ``<svg>`` string (no scripts, no fonts
beyond the generic ``sans-serif``), so a report opens with no network.

>>> svg = line_chart([(0.0, 0.1, 0.2), (60.0, 0.3, 0.2)], marks=[(60.0, "firing")])
>>> svg.startswith("<svg") and svg.count("<circle") == 2 and "<polygon" in svg
True
>>> "<rect" in bar_chart(["a", "b"], [0.5, 0.5], [0.9, 0.1])
True
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT = 560, 170
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 52, 12, 12, 34
VALUE_COLOUR = "#1f6fb2"
THRESHOLD_COLOUR = "#d1495b"
BASELINE_COLOUR = "#9aa5b1"
MARK_COLOURS = {"firing": "#d1495b", "resolved": "#2a9d5b"}

Point = tuple[float, float, float]  # (time, value, threshold); NaN: not judged


def _fmt(value: float) -> str:
    """A short label for an axis value.

    >>> [_fmt(v) for v in (0.0, 0.01234, 3.0, 1234.5)]
    ['0', '0.0123', '3', '1.23e+03']
    """
    if value == 0:
        return "0"
    return f"{value:.3g}"


def _clock(t: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(t))


def _ticks(low: float, high: float, count: int = 4) -> list[float]:
    if high <= low:
        return [low]
    return [low + (high - low) * i / count for i in range(count + 1)]


def _finite(values: Sequence[float]) -> list[float]:
    return [v for v in values if not math.isnan(v) and not math.isinf(v)]


def line_chart(
    points: Sequence[Point],
    *,
    marks: Sequence[tuple[float, str]] = (),
    title: str = "",
    width: int = WIDTH,
    height: int = HEIGHT,
) -> str:
    """The value (solid) and its threshold (dashed) per window over time (UTC);
    ``marks`` are (time, "firing" | "resolved") triangles along the bottom.

    Windows whose value is NaN (too few events to judge) leave a gap."""
    plot_w, plot_h = width - PAD_LEFT - PAD_RIGHT, height - PAD_TOP - PAD_BOTTOM
    times = [p[0] for p in points] + [t for t, _ in marks]
    t0, t1 = (min(times), max(times)) if times else (0.0, 1.0)
    if t1 <= t0:
        t0, t1 = t0 - 1.0, t1 + 1.0
    ys = _finite([p[1] for p in points] + [p[2] for p in points])
    y0, y1 = (min(0.0, *ys), max(ys)) if ys else (0.0, 1.0)
    if y1 <= y0:
        y1 = y0 + 1.0
    y1 += 0.05 * (y1 - y0)

    def x(t: float) -> float:
        return PAD_LEFT + (t - t0) / (t1 - t0) * plot_w

    def y(v: float) -> float:
        return PAD_TOP + (1.0 - (v - y0) / (y1 - y0)) * plot_h

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        'font-family="sans-serif" font-size="10">',
        f'<rect x="{PAD_LEFT}" y="{PAD_TOP}" width="{plot_w}" height="{plot_h}" '
        'fill="#fbfcfd" stroke="#d8dde3"/>',
    ]
    for v in _ticks(y0, y1):
        out.append(
            f'<line x1="{PAD_LEFT}" x2="{PAD_LEFT + plot_w}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
            'stroke="#eef1f4"/>'
            f'<text x="{PAD_LEFT - 4}" y="{y(v) + 3:.1f}" text-anchor="end" fill="#555">'
            f"{_fmt(v)}</text>"
        )
    ticks = _ticks(t0, t1, 3)
    for i, t in enumerate(ticks):
        anchor = "start" if i == 0 else "end" if i == len(ticks) - 1 else "middle"
        out.append(
            f'<text x="{x(t):.1f}" y="{height - PAD_BOTTOM + 14}" text-anchor="{anchor}" '
            f'fill="#555">{_clock(t)}</text>'
        )
    for index, colour, dash in (
        (2, THRESHOLD_COLOUR, ' stroke-dasharray="5 3"'),
        (1, VALUE_COLOUR, ""),
    ):
        for run in _runs(points, index):
            path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in run)
            out.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" '
                f'stroke-width="1.6"{dash}/>'
            )
    for t, value, _ in points:
        if not (math.isnan(value) or math.isinf(value)) and len(points) <= 120:
            out.append(
                f'<circle cx="{x(t):.1f}" cy="{y(value):.1f}" r="1.8" fill="{VALUE_COLOUR}"/>'
            )
    base = PAD_TOP + plot_h
    for t, status in marks:
        colour = MARK_COLOURS.get(status, "#555")
        cx = x(t)
        out.append(
            f'<polygon points="{cx:.1f},{base - 9} {cx - 5:.1f},{base} {cx + 5:.1f},{base}" '
            f'fill="{colour}"><title>{escape(status)} at {_clock(t)} UTC</title></polygon>'
        )
    legend_y = height - 6
    out.append(
        f'<line x1="{PAD_LEFT}" x2="{PAD_LEFT + 18}" y1="{legend_y - 3}" y2="{legend_y - 3}" '
        f'stroke="{VALUE_COLOUR}" stroke-width="2"/>'
        f'<text x="{PAD_LEFT + 22}" y="{legend_y}">value per window</text>'
        f'<line x1="{PAD_LEFT + 120}" x2="{PAD_LEFT + 138}" y1="{legend_y - 3}" '
        f'y2="{legend_y - 3}" stroke="{THRESHOLD_COLOUR}" stroke-width="2" stroke-dasharray="5 3"/>'
        f'<text x="{PAD_LEFT + 142}" y="{legend_y}">threshold</text>'
        f'<polygon points="{PAD_LEFT + 210},{legend_y} {PAD_LEFT + 215},{legend_y - 8} '
        f'{PAD_LEFT + 220},{legend_y}" fill="{MARK_COLOURS["firing"]}"/>'
        f'<text x="{PAD_LEFT + 224}" y="{legend_y}">alert fired</text>'
        f'<polygon points="{PAD_LEFT + 290},{legend_y} {PAD_LEFT + 295},{legend_y - 8} '
        f'{PAD_LEFT + 300},{legend_y}" fill="{MARK_COLOURS["resolved"]}"/>'
        f'<text x="{PAD_LEFT + 304}" y="{legend_y}">resolved</text>'
    )
    out.append("</svg>")
    return "".join(out)


def _runs(points: Sequence[Point], index: int) -> list[list[tuple[float, float]]]:
    """The stretches of consecutive finite values of ``points[i][index]``."""
    runs: list[list[tuple[float, float]]] = [[]]
    for p in points:
        v = p[index]
        if math.isnan(v) or math.isinf(v):
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((p[0], v))
    return [r for r in runs if r]


def bar_chart(
    labels: Sequence[str],
    baseline: Sequence[float],
    recent: Sequence[float],
    *,
    width: int = WIDTH,
    height: int = HEIGHT + 20,
) -> str:
    """Shares per bin or category: the baseline's (grey) beside the recent window's (blue)."""
    n = max(1, len(labels))
    plot_w, plot_h = width - PAD_LEFT - PAD_RIGHT, height - PAD_TOP - PAD_BOTTOM - 22
    top = max([*_finite(list(baseline)), *_finite(list(recent)), 0.01]) * 1.08
    slot = plot_w / n
    bar = max(1.0, slot * 0.38)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="baseline and recent shares" '
        'font-family="sans-serif" font-size="10">',
        f'<rect x="{PAD_LEFT}" y="{PAD_TOP}" width="{plot_w}" height="{plot_h}" '
        'fill="#fbfcfd" stroke="#d8dde3"/>',
    ]

    def y(v: float) -> float:
        return PAD_TOP + (1.0 - v / top) * plot_h

    for v in _ticks(0.0, top):
        out.append(
            f'<text x="{PAD_LEFT - 4}" y="{y(v) + 3:.1f}" text-anchor="end" fill="#555">'
            f"{v:.0%}</text>"
        )
    for i, label in enumerate(labels):
        left = PAD_LEFT + i * slot + slot * 0.1
        for j, (share, colour) in enumerate(
            ((baseline[i], BASELINE_COLOUR), (recent[i], VALUE_COLOUR))
        ):
            if math.isnan(share):
                continue
            h = plot_h - (y(share) - PAD_TOP)
            out.append(
                f'<rect x="{left + j * bar:.1f}" y="{y(share):.1f}" width="{bar:.1f}" '
                f'height="{max(h, 0.0):.1f}" fill="{colour}"><title>{escape(label)}: '
                f"{'baseline' if j == 0 else 'recent'} {share:.1%}</title></rect>"
            )
        short = label if len(label) <= 12 else label[:11] + "…"
        cx, ty = PAD_LEFT + (i + 0.5) * slot, PAD_TOP + plot_h + 10
        out.append(
            f'<text x="{cx:.1f}" y="{ty}" text-anchor="end" fill="#555" '
            f'transform="rotate(-30 {cx:.1f} {ty})">{escape(short)}</text>'
        )
    legend_y = height - 6
    out.append(
        f'<rect x="{PAD_LEFT}" y="{legend_y - 8}" width="10" height="8" fill="{BASELINE_COLOUR}"/>'
        f'<text x="{PAD_LEFT + 14}" y="{legend_y}">baseline</text>'
        f'<rect x="{PAD_LEFT + 80}" y="{legend_y - 8}" width="10" height="8" '
        f'fill="{VALUE_COLOUR}"/><text x="{PAD_LEFT + 94}" y="{legend_y}">last window</text>'
    )
    out.append("</svg>")
    return "".join(out)
