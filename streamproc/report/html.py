"""The HTML of ``streamproc report``: one self-contained page from a :class:`ReportData`.

Pure (data in, string out). Charts are inline SVG (:mod:`.svg`), styles are
inline, and there is no script, external stylesheet, font or image: the file
opens with no network.

>>> from streamproc.report.collect import ModelReport, ReportData
>>> data = ReportData("events.jsonl", 0.0, 10, 0, [ModelReport("m", events=10)], [])
>>> page = render(data)
>>> page.startswith("<!DOCTYPE html>") and "<script" not in page and "m</h2>" in page
True
"""

from __future__ import annotations

import math
import time
from html import escape

from streamproc.detect.policy import Key
from streamproc.events.alerts import Alert
from streamproc.report.collect import (
    MAX_ALERTS,
    MAX_FEATURES,
    MAX_MODELS,
    MAX_POINTS,
    Distribution,
    ModelReport,
    ReportData,
)
from streamproc.report.svg import bar_chart, line_chart

STYLE = """
body{font-family:sans-serif;margin:24px;color:#1d2733;background:#fff;max-width:1200px}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:18px;margin:28px 0 6px;border-bottom:1px solid #d8dde3}
h3{font-size:14px;margin:14px 0 4px}.muted{color:#66717d;font-size:12px}
.grid{display:flex;flex-wrap:wrap;gap:8px 18px}.panel{flex:0 0 auto}
table{border-collapse:collapse;font-size:12px;margin-top:6px}
th,td{border:1px solid #d8dde3;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f2f4f7}.firing{color:#b3261e;font-weight:bold}.resolved{color:#1e7b46}
.summary td{border:none;padding:1px 12px 1px 0}
"""

DETECTOR_TITLES = {
    "psi": "PSI",
    "null_rate": "null rate",
    "schema": "missing / wrong type share",
    "error_rate": "error rate",
    "stuck": "share of the most common prediction",
    "kind": "share of predictions of another kind",
    "unseen_class": "share of unseen classes",
    "estimated_accuracy": "estimated accuracy (no labels)",
    "accuracy": "accuracy (labelled)",
    "mae": "mean absolute error (labelled)",
}


def _clock(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) if math.isfinite(t) else "-"


def _title(key: Key) -> str:
    signal, feature, detector = key
    name = DETECTOR_TITLES.get(detector, detector)
    return f"{signal} {name}" if feature is None else name


def _marks(alerts: list[Alert], key: Key) -> list[tuple[float, str]]:
    return [(a.window_end, a.status) for a in alerts if (a.signal, a.feature, a.detector) == key]


def _panel(title: str, svg: str) -> str:
    return f'<div class="panel"><h3>{escape(title)}</h3>{svg}</div>'


def _distribution(title: str, d: Distribution) -> str:
    note = f"last window: {d.window_events} events to {_clock(d.window_end)} UTC"
    return _panel(f"{title}: baseline vs {note}", bar_chart(d.labels, d.baseline, d.recent))


def _model(model: ModelReport, alerts: list[Alert]) -> str:
    mine = [a for a in alerts if a.model_id == model.model_id]
    out = [f'<h2 id="model-{escape(model.model_id)}">{escape(model.model_id)}</h2>']
    source = {
        "given": "given (--baseline)",
        "learned": "learned from its first events",
        "none": "none yet (still learning: nothing judged)",
    }.get(model.baseline_source, model.baseline_source)
    firing = sum(a.status == "firing" for a in mine)
    out.append(
        f'<p class="muted">{model.events:,} events, {model.windows} windows judged; '
        f"baseline: {escape(source)}, {model.baseline_events:,} events; "
        f"{firing} alerts fired"
        + (f"; every {model.stride}th window plotted" if model.stride > 1 else "")
        + (
            f"; {model.omitted_features} more features not shown (cap {MAX_FEATURES})"
            if model.omitted_features
            else ""
        )
        + "</p>"
    )
    model_keys = [k for k in model.series if k[1] is None]
    if model_keys or None in model.distributions:
        out.append('<h3>Prediction and model-level checks</h3><div class="grid">')
        for key in model_keys:
            out.append(
                _panel(
                    _title(key),
                    line_chart(model.series[key], marks=_marks(mine, key), title=_title(key)),
                )
            )
        if None in model.distributions:
            out.append(_distribution("prediction", model.distributions[None]))
        out.append("</div>")
    if model.performance:
        out.append('<h3>Performance (labels joined by event_id)</h3><div class="grid">')
        for key, points in model.performance.items():
            out.append(
                _panel(_title(key), line_chart(points, marks=_marks(mine, key), title=_title(key)))
            )
        out.append("</div>")
    for feature in model.features:
        keys = [k for k in model.series if k[1] == feature]
        out.append(f'<h3>feature {escape(feature)}</h3><div class="grid">')
        for key in keys:
            if key[2] in ("psi", "null_rate") or _marks(mine, key):
                out.append(
                    _panel(
                        _title(key),
                        line_chart(model.series[key], marks=_marks(mine, key), title=_title(key)),
                    )
                )
        if feature in model.distributions:
            out.append(_distribution(feature, model.distributions[feature]))
        out.append("</div>")
    return "".join(out)


def _alert_table(alerts: list[Alert], omitted: int) -> str:
    if not alerts:
        return "<h2>Alerts</h2><p>No alert.</p>"
    rows = []
    for a in alerts:
        rows.append(
            "<tr>"
            f'<td class="{escape(a.status)}">{escape(a.status)}</td>'
            f"<td>{escape(a.severity)}</td><td>{escape(a.model_id)}</td>"
            f"<td>{escape(a.signal)}</td><td>{escape(a.feature or '')}</td>"
            f"<td>{escape(a.detector)}</td><td>{a.value:.4g}</td><td>{a.threshold:.4g}</td>"
            f"<td>{_clock(a.window_start)} – {_clock(a.window_end)}</td>"
            f"<td>{a.window_events:,}</td><td>{escape(a.message)}</td>"
            "</tr>"
        )
    more = (
        f'<p class="muted">{omitted} more alerts not shown (cap {MAX_ALERTS}).</p>'
        if omitted
        else ""
    )
    return (
        f"<h2>Alerts ({len(alerts) + omitted})</h2><table><tr><th>status</th><th>severity</th>"
        "<th>model</th><th>signal</th><th>feature</th><th>detector</th><th>value</th>"
        "<th>threshold</th><th>window (UTC)</th><th>events</th><th>message</th></tr>"
        + "".join(rows)
        + "</table>"
        + more
    )


def render(data: ReportData) -> str:
    """The whole report page."""
    fired = sum(a.status == "firing" for a in data.alerts)
    resolved = sum(a.status == "resolved" for a in data.alerts)
    summary = [
        ("events", f"{data.events:,} ({data.rejected:,} rejected)"),
        ("models", f"{len(data.models) + data.omitted_models}"),
        ("alerts", f"{fired} fired, {resolved} resolved"),
        ("generated", f"{_clock(data.generated_at)} UTC"),
    ]
    if data.labels:
        summary.append(("labels", data.labels))
    if data.omitted_models:
        summary.append(("not shown", f"{data.omitted_models} models (cap {MAX_MODELS})"))
    index = " · ".join(
        f'<a href="#model-{escape(m.model_id)}">{escape(m.model_id)}</a>' for m in data.models
    )
    return "".join(
        [
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
            f"<title>streamproc report: {escape(data.source)}</title>",
            f"<style>{STYLE}</style></head><body>",
            f"<h1>streamproc report: {escape(data.source)}</h1>",
            '<table class="summary">',
            "".join(f"<tr><td>{k}</td><td>{escape(v)}</td></tr>" for k, v in summary),
            "</table>",
            f'<p class="muted">Each chart is one statistic per judged window (at most '
            f"{MAX_POINTS} windows a series) against its threshold; triangles mark the windows "
            f"where an alert fired (red) or resolved (green). Models: {index}</p>",
            _alert_table(data.alerts, data.omitted_alerts),
            "".join(_model(m, data.alerts) for m in data.models),
            "</body></html>\n",
        ]
    )
