"""Charts as inline SVG drawn on the server: no JavaScript library, no CDN, nothing to vendor.

Each function returns an SVG string (already escaped) that a template inserts with `|safe`.
They draw what a reader needs to compare at a glance: a line over time or steps, bars side by
side, a heat-mapped matrix; exact numbers stay in the tables beside them.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2")


def _fmt(value: float) -> str:
    if abs(value) >= 1000 or (value and abs(value) < 0.01):
        return f"{value:.3g}"
    return f"{value:.3f}".rstrip("0").rstrip(".") if "." in f"{value:.3f}" else str(value)


def line_chart(
    series: Mapping[str, Sequence[tuple[float, float]]],
    *,
    width: int = 640,
    height: int = 220,
    x_label: str = "",
    y_label: str = "",
    x_is_time: bool = False,
) -> str:
    """One polyline per named series of (x, y) points, with min/max ticks on both axes."""
    points = [p for values in series.values() for p in values]
    if not points:
        return '<p class="muted">no data to draw</p>'
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1, y0, y1 = min(xs), max(xs), min(min(ys), 0.0), max(ys)
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1)
    left, right, top, bottom = 56, 12, 12, 36
    span_w, span_h = width - left - right, height - top - bottom

    def px(x: float, y: float) -> str:
        across = left + (x - x0) / (x1 - x0) * span_w
        down = top + (1 - (y - y0) / (y1 - y0)) * span_h
        return f"{across:.1f},{down:.1f}"

    parts = [_frame(width, height, left, top, span_w, span_h)]
    for index, (name, values) in enumerate(series.items()):
        color = PALETTE[index % len(PALETTE)]
        path = " ".join(px(x, y) for x, y in values)
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{path}"/>')
        if len(values) == 1:
            cx, cy = px(*values[0]).split(",")
            parts.append(f'<circle cx="{cx}" cy="{cy}" r="3" fill="{color}"/>')
        parts.append(
            f'<text x="{left + 8 + 110 * index}" y="{height - 4}" fill="{color}" '
            f'font-size="11">■ {html.escape(name)}</text>'
        )
    x_text = (_time(x0), _time(x1)) if x_is_time else (_fmt(x0), _fmt(x1))
    parts += [
        f'<text x="{left - 4}" y="{top + 10}" text-anchor="end" font-size="10">{_fmt(y1)}</text>',
        f'<text x="{left - 4}" y="{top + span_h}" text-anchor="end" font-size="10">'
        f"{_fmt(y0)}</text>",
        f'<text x="{left}" y="{top + span_h + 12}" font-size="10">{x_text[0]}</text>',
        f'<text x="{left + span_w}" y="{top + span_h + 12}" text-anchor="end" font-size="10">'
        f"{x_text[1]}</text>",
        f'<text x="{left + span_w / 2}" y="{top + span_h + 12}" text-anchor="middle" '
        f'font-size="10">{html.escape(x_label)}</text>',
        f'<text x="4" y="{top + span_h / 2}" font-size="10">{html.escape(y_label)}</text>',
    ]
    return _svg(width, height, parts)


def bar_chart(
    groups: Mapping[str, Sequence[float]],
    labels: Sequence[str],
    *,
    width: int = 640,
    row_height: int = 18,
) -> str:
    """Horizontal bars: one row per label, one bar per group (e.g. reference vs served share)."""
    if not labels:
        return '<p class="muted">no data to draw</p>'
    left, height = 150, 24 + row_height * len(labels) * max(len(groups), 1)
    peak = max((v for values in groups.values() for v in values), default=0.0) or 1.0
    parts = []
    bar = row_height - 4
    for row, label in enumerate(labels):
        y = 4 + row * row_height * len(groups)
        parts.append(
            f'<text x="{left - 6}" y="{y + bar}" text-anchor="end" font-size="11">'
            f"{html.escape(label[:24])}</text>"
        )
        for index, (name, values) in enumerate(groups.items()):
            value = values[row]
            w = (width - left - 60) * value / peak
            color = PALETTE[index % len(PALETTE)]
            top = y + index * row_height
            parts.append(
                f'<rect x="{left}" y="{top}" width="{w:.1f}" height="{bar}" fill="{color}">'
                f"<title>{html.escape(name)}: {_fmt(value)}</title></rect>"
                f'<text x="{left + w + 4:.1f}" y="{top + bar - 3}" font-size="10">'
                f"{_fmt(value)}</text>"
            )
    legend = "".join(
        f'<text x="{left + 120 * i}" y="{height - 4}" font-size="11" '
        f'fill="{PALETTE[i % len(PALETTE)]}">■ {html.escape(name)}</text>'
        for i, name in enumerate(groups)
    )
    return _svg(width, height, [*parts, legend])


def matrix_chart(
    matrix: Sequence[Sequence[float]], labels: Sequence[str], *, cell: int = 34
) -> str:
    """A confusion matrix: rows are the true label, columns the predicted one, shaded by share."""
    n = len(labels)
    if not n or len(matrix) != n:
        return '<p class="muted">no matrix</p>'
    shown = labels[:30]
    n = len(shown)
    left, top = 110, 90
    width, height = left + cell * n + 10, top + cell * n + 10
    peak = max((v for row in matrix[:n] for v in row[:n]), default=0) or 1
    parts = []
    for j, label in enumerate(shown):
        x = left + j * cell + cell / 2
        parts.append(
            f'<text transform="translate({x:.0f},{top - 6}) rotate(-50)" font-size="10">'
            f"{html.escape(str(label)[:16])}</text>"
        )
    for i, label in enumerate(shown):
        y = top + i * cell
        parts.append(
            f'<text x="{left - 6}" y="{y + cell / 2 + 4:.0f}" text-anchor="end" font-size="10">'
            f"{html.escape(str(label)[:16])}</text>"
        )
        for j in range(n):
            value = matrix[i][j]
            alpha = value / peak
            fill = f"rgba(37,99,235,{alpha:.2f})" if i != j else f"rgba(22,163,74,{alpha:.2f})"
            ink = "#fff" if alpha > 0.55 else "#111"
            parts.append(
                f'<rect x="{left + j * cell}" y="{y}" width="{cell - 1}" height="{cell - 1}" '
                f'fill="{fill}" stroke="#ddd"><title>true {html.escape(str(label))}, predicted '
                f"{html.escape(str(shown[j]))}: {value}</title></rect>"
                f'<text x="{left + j * cell + cell / 2:.0f}" y="{y + cell / 2 + 4:.0f}" '
                f'text-anchor="middle" font-size="10" fill="{ink}">{_fmt(float(value))}</text>'
            )
    return _svg(width, height, parts)


def _frame(width: int, height: int, left: int, top: int, span_w: int, span_h: int) -> str:
    return (
        f'<rect x="{left}" y="{top}" width="{span_w}" height="{span_h}" fill="#fafafa" '
        'stroke="#ccc"/>'
    )


def _svg(width: int, height: int, parts: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img">' + "".join(parts) + "</svg>"
    )


def _time(epoch: float) -> str:
    import time

    return time.strftime("%m-%d %H:%M", time.gmtime(epoch))
