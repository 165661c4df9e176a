import math
import re

from streamproc.report.svg import HEIGHT, PAD_LEFT, WIDTH, bar_chart, line_chart


def _polylines(svg: str) -> list[list[tuple[float, float]]]:
    return [
        [tuple(map(float, p.split(","))) for p in points.split()]
        for points in re.findall(r'<polyline points="([^"]*)"', svg)
    ]


def test_a_window_without_a_value_leaves_a_gap_in_the_line():
    points = [(0.0, 0.1, 0.2), (60.0, math.nan, 0.2), (120.0, 0.3, 0.2), (180.0, 0.4, 0.2)]
    lines = _polylines(line_chart(points))
    # the threshold is one line over all four windows; the value two, around the gap
    assert sorted(len(line) for line in lines) == [1, 2, 4]


def test_points_stay_inside_the_chart_and_higher_values_are_drawn_higher():
    svg = line_chart([(0.0, 0.0, 1.0), (10.0, 5.0, 1.0)])
    value = max(_polylines(svg), key=lambda line: line[0][1] - line[-1][1])
    (x0, y0), (x1, y1) = value
    assert PAD_LEFT <= x0 < x1 <= WIDTH and 0 <= y1 < y0 <= HEIGHT


def test_alerts_are_triangles_coloured_by_status():
    svg = line_chart([(0.0, 1.0, 0.5)], marks=[(0.0, "firing"), (0.0, "resolved")])
    assert "firing at" in svg and "resolved at" in svg
    assert svg.count('fill="#d1495b"><title>') == 1 and svg.count('fill="#2a9d5b"><title>') == 1


def test_text_is_escaped():
    svg = line_chart([(0.0, 1.0, 0.5)], title="<b>&")
    assert "<b>" not in svg and "&lt;b&gt;&amp;" in svg
    bars = bar_chart(["<script>", "a-very-long-category-name"], [0.5, 0.5], [0.2, 0.8])
    assert "<script>" not in bars and "a-very-long…" in bars


def test_bars_are_as_tall_as_their_share():
    svg = bar_chart(["a", "b"], [0.25, 0.75], [0.5, math.nan])
    heights = [
        float(h)
        for h in re.findall(
            r'<rect x="[^"]*" y="[^"]*" width="[^"]*" height="([^"]*)" fill="[^"]*"><title>', svg
        )
    ]
    assert len(heights) == 3  # the NaN bar is not drawn
    assert math.isclose(heights[1] / heights[0], 2.0, rel_tol=0.02)
    assert math.isclose(heights[2] / heights[0], 3.0, rel_tol=0.02)


def test_empty_and_flat_series_still_draw():
    assert line_chart([]).endswith("</svg>")
    assert "<polyline" in line_chart([(5.0, 0.0, 0.0), (5.0, 0.0, 0.0)])
