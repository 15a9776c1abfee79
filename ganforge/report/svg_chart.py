"""Line charts as inline SVG, drawn from the numbers alone (no plotting library, no script):
a few named series against one x axis, with vertical markers that name an event on hover.
Non-finite values break a line instead of bending its scale."""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from typing import Mapping, Sequence

#: Series colours, in order (no red or purple: those are the markers').
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")
#: Marker kind -> (colour, dash pattern or "" for a solid line).
MARKER_STYLES = {"warning": ("#d62728", ""), "cleared": ("#7f7f7f", "2 3"), "action": ("#9467bd", "6 3")}
#: Series with at most this many points also get a dot per point (evaluations: a few points each).
DOTTED_UP_TO = 40
LEFT, RIGHT, BOTTOM = 58, 14, 30
TICKS = 5


@dataclass(frozen=True)
class Marker:
    x: float
    kind: str  # a key of MARKER_STYLES
    note: str  # shown on hover


def line_chart(series: Mapping[str, Sequence[tuple[float, float]]], title: str, markers: Sequence[Marker] = (),
               width: int = 560, height: int = 240) -> str:
    """An ``<svg>`` element: each series' (x, y) points as a line, in the order given, titled and
    with a legend; the markers as vertical lines (the x axis spans them too). Needs one finite point."""
    finite = [(x, y) for points in series.values() for x, y in points if math.isfinite(y)]
    xs, ys = _span([x for x, _ in finite] + [m.x for m in markers]), _span([y for _, y in finite])
    legend, legend_bottom = _legend(list(series), width)
    top = legend_bottom + 10
    plot = (LEFT, top, width - LEFT - RIGHT, height - top - BOTTOM)

    def to_px(x: float, y: float) -> tuple[float, float]:
        left, top, w, h = plot
        return left + (x - xs[0]) / (xs[1] - xs[0]) * w, top + (ys[1] - y) / (ys[1] - ys[0]) * h

    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             f'role="img" aria-label="{escape(title)}" font-family="sans-serif" font-size="11">',
             f'<text x="{LEFT}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
             *legend,
             *_axes(xs, ys, plot, to_px)]
    for (name, points), colour in zip(series.items(), _colours(len(series))):
        parts += _series(points, colour, to_px)
    parts += [_marker(m, plot, to_px) for m in markers]
    parts.append("</svg>")
    return "\n".join(parts)


def nice_ticks(low: float, high: float, count: int = TICKS) -> list[float]:
    """Round values (1, 2 or 5 times a power of ten apart) from ``low`` to ``high``, about ``count``."""
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step)
    decimals = max(0, -math.floor(math.log10(step)))
    return [round((first + i) * step, decimals) + 0.0 for i in range(int(high / step - first + 1e-9) + 1)]


def _span(values: list[float]) -> tuple[float, float]:
    """The axis range of ``values``, widened by 4% so no line runs along the frame; a single
    value gets a range around it."""
    low, high = min(values), max(values)
    if low == high:
        pad = abs(low) * 0.1 or 1.0
        return low - pad, high + pad
    pad = (high - low) * 0.04
    return low - pad, high + pad


def _colours(n: int) -> list[str]:
    return [PALETTE[i % len(PALETTE)] for i in range(n)]


def _legend(names: list[str], width: int) -> tuple[list[str], int]:
    """A colour swatch and the name of each series, in rows below the title; and where they end."""
    parts, x, y = [], LEFT, 30
    for name, colour in zip(names, _colours(len(names))):
        room = 28 + 7 * len(name)
        if x > LEFT and x + room > width - RIGHT:
            x, y = LEFT, y + 14
        parts.append(f'<rect x="{x}" y="{y - 6}" width="12" height="4" fill="{colour}"/>'
                     f'<text x="{x + 16}" y="{y}">{escape(name)}</text>')
        x += room
    return parts, y


def _axes(xs, ys, plot, to_px) -> list[str]:
    left, top, w, h = plot
    bottom = top + h
    parts = [f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="none" stroke="#999"/>']
    for t in nice_ticks(*ys):
        _, py = to_px(xs[0], t)
        parts.append(f'<line x1="{left}" y1="{py:.1f}" x2="{left + w}" y2="{py:.1f}" stroke="#eee"/>'
                     f'<text x="{left - 4}" y="{py + 4:.1f}" text-anchor="end">{_label(t)}</text>')
    for t in nice_ticks(*xs):
        px, _ = to_px(t, ys[0])
        parts.append(f'<line x1="{px:.1f}" y1="{bottom}" x2="{px:.1f}" y2="{bottom + 4}" stroke="#999"/>'
                     f'<text x="{px:.1f}" y="{bottom + 16}" text-anchor="middle">{_label(t)}</text>')
    return parts


def _label(value: float) -> str:
    return f"{value:.6g}" if value == int(value) else f"{value:.4g}"


def _series(points: Sequence[tuple[float, float]], colour: str, to_px) -> list[str]:
    """A polyline per run of finite points, and dots when there are few points."""
    parts = []
    for segment in _finite_segments(points):
        coordinates = " ".join(f"{px:.1f},{py:.1f}" for px, py in (to_px(x, y) for x, y in segment))
        parts.append(f'<polyline points="{coordinates}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
    if len(points) <= DOTTED_UP_TO:
        parts += [f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2.5" fill="{colour}"/>'
                  for px, py in (to_px(x, y) for x, y in points if math.isfinite(y))]
    return parts


def _finite_segments(points: Sequence[tuple[float, float]]) -> list[list[tuple[float, float]]]:
    segments: list[list[tuple[float, float]]] = [[]]
    for x, y in points:
        if math.isfinite(y):
            segments[-1].append((x, y))
        elif segments[-1]:
            segments.append([])
    return [s for s in segments if s]


def _marker(marker: Marker, plot, to_px) -> str:
    _, top, _, h = plot
    colour, dash = MARKER_STYLES[marker.kind]
    px, _ = to_px(marker.x, 0.0)
    dashing = f' stroke-dasharray="{dash}"' if dash else ""
    return (f'<line class="marker {marker.kind}" x1="{px:.1f}" y1="{top}" x2="{px:.1f}" y2="{top + h}" '
            f'stroke="{colour}" stroke-width="2"{dashing}><title>{escape(marker.note)}</title></line>')
