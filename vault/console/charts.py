"""Server-rendered bar charts: the geometry here, the SVG markup in a template macro.

No script and no inline style: bars carry a series class that the stylesheet
colours, so the charts work under the console's strict Content-Security-Policy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

WIDTH = 640
HEIGHT = 280
_LEFT, _RIGHT, _TOP, _BOTTOM = 44, 8, 12, 48


@dataclass(frozen=True)
class Bar:
    """One bar: its box, its value and what it counts."""

    x: float
    y: float
    width: float
    height: float
    value: int
    series_index: int
    label: str


@dataclass(frozen=True)
class Tick:
    """A labelled position on an axis."""

    position: float
    text: str


@dataclass(frozen=True)
class BarChart:
    """A grouped bar chart with its data, so a table can repeat it for every reader."""

    chart_id: str
    title: str
    description: str
    categories: list[str]
    series: list[str]
    values: list[list[int]]
    """values[series][category]"""
    bars: list[Bar] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    width: int = WIDTH
    height: int = HEIGHT
    plot_left: int = _LEFT
    plot_bottom: int = HEIGHT - _BOTTOM
    plot_right: int = WIDTH - _RIGHT

    @property
    def empty(self) -> bool:
        """True when every value is zero."""
        return not any(any(row) for row in self.values)


def _nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5 x 10^k that is at least ``value`` (at least 1)."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if factor * step >= value:
                return factor * step
        step *= 10


def grouped_bars(
    chart_id: str,
    title: str,
    description: str,
    categories: Sequence[str],
    series: Mapping[str, Sequence[int]],
) -> BarChart:
    """Lay out one bar per series in each category, on a shared zero-based scale."""
    names = list(series)
    values = [list(series[name]) for name in names]
    if any(len(row) != len(categories) for row in values):
        raise ValueError("every series needs one value per category")
    chart = BarChart(chart_id, title, description, list(categories), names, values)
    top = _nice_ceiling(max((v for row in values for v in row), default=0))
    plot_height = chart.plot_bottom - _TOP
    plot_width = chart.plot_right - chart.plot_left
    group = plot_width / max(1, len(categories))
    bar_width = group * 0.8 / max(1, len(names))
    for c, category in enumerate(categories):
        left = chart.plot_left + c * group + group * 0.1
        chart.x_ticks.append(Tick(round(chart.plot_left + (c + 0.5) * group, 1), category))
        for s, name in enumerate(names):
            value = values[s][c]
            height = plot_height * value / top
            chart.bars.append(
                Bar(
                    x=round(left + s * bar_width, 1),
                    y=round(chart.plot_bottom - height, 1),
                    width=round(max(bar_width - 1, 1), 1),
                    height=round(height, 1),
                    value=value,
                    series_index=s,
                    label=f"{name}, {category}: {value}",
                )
            )
    for fraction in (0, 0.5, 1):
        tick = top * fraction
        if tick == int(tick):
            chart.y_ticks.append(
                Tick(round(chart.plot_bottom - plot_height * fraction, 1), str(int(tick)))
            )
    return chart
