"""Line charts of the what-if's hourly series as inline SVG (no script, no CDN): one line
per queue, labelled axes, a ``<title>`` and ``<desc>`` for screen readers, and the same
figures in a table next to it on the page."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape

W, H, PAD_L, PAD_B, PAD_T, PAD_R = 640, 220, 52, 28, 12, 12
#: one colour per queue, distinguishable and dark enough on white (WCAG 3:1 for lines)
COLOURS = ("#1f5fa8", "#b5471b", "#2f7d32", "#7a3d9a", "#8a6d00", "#00707a", "#a0225e")


def _points(values: list[float | None], top: float, hours: int) -> list[str]:
    out = []
    for i, v in enumerate(values):
        if v is None:
            continue
        x = PAD_L + (W - PAD_L - PAD_R) * (i / max(hours - 1, 1))
        y = H - PAD_B - (H - PAD_B - PAD_T) * (v / top if top else 0)
        out.append(f"{x:.1f},{y:.1f}")
    return out


def line_chart(
    chart_id: str, title: str, series: dict[str, list[float | None]], hours: list[str], unit: str
) -> Markup:
    """An SVG line chart of ``series`` (queue -> one value per hour, None for none)."""
    values = [v for vs in series.values() for v in vs if v is not None]
    top = max(values) if values else 1.0
    top = top or 1.0
    n = len(hours)
    parts = [
        f'<svg id="{escape(chart_id)}" class="whatif-chart" viewBox="0 0 {W} {H}" role="img" '
        f'aria-labelledby="{escape(chart_id)}-t {escape(chart_id)}-d">',
        f'<title id="{escape(chart_id)}-t">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-d">{escape(_describe(series, unit))}</desc>',
        f'<line x1="{PAD_L}" y1="{H - PAD_B}" x2="{W - PAD_R}" y2="{H - PAD_B}" stroke="#555"/>',
        f'<line x1="{PAD_L}" y1="{PAD_T}" x2="{PAD_L}" y2="{H - PAD_B}" stroke="#555"/>',
        f'<text x="{PAD_L - 4}" y="{PAD_T + 10}" text-anchor="end" font-size="11">'
        f"{escape(_fmt(top))}</text>",
        f'<text x="{PAD_L - 4}" y="{H - PAD_B}" text-anchor="end" font-size="11">0</text>',
    ]
    if hours:
        parts.append(
            f'<text x="{PAD_L}" y="{H - 8}" font-size="11">{escape(hours[0][5:16])}</text>'
            f'<text x="{W - PAD_R}" y="{H - 8}" text-anchor="end" font-size="11">'
            f"{escape(hours[-1][5:16])} UTC</text>"
        )
    for i, (name, vs) in enumerate(series.items()):
        colour = COLOURS[i % len(COLOURS)]
        points = _points(vs, top, n)
        if points:
            parts.append(
                f'<polyline class="whatif-line" data-queue="{escape(name)}" fill="none" '
                f'stroke="{colour}" stroke-width="2" points="{" ".join(points)}"/>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 -- every value above is escaped


def _fmt(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.2f}"


def _describe(series: dict[str, list[float | None]], unit: str) -> str:
    out = []
    for name, vs in series.items():
        known = [v for v in vs if v is not None]
        if known:
            out.append(f"{name}: highest {_fmt(max(known))} {unit}, last {_fmt(known[-1])} {unit}")
    return "; ".join(out) or "no data"


def legend(series: dict[str, Any]) -> list[tuple[str, str]]:
    return [(name, COLOURS[i % len(COLOURS)]) for i, name in enumerate(series)]
