"""Helpers for tests of the deployment files in deploy/ (no third-party imports).

Used by tests/unit/test_deploy.py and meant for integration tests that evaluate
the Grafana dashboard against a real Prometheus fed by a real worker::

    from deploy_helpers import DASHBOARD, dashboard_queries
    for expr in dashboard_queries(DASHBOARD):
        ...  # GET /api/v1/query?query=<expr>

Import it by path when ``tests`` is not a package::

    spec = importlib.util.spec_from_file_location("deploy_helpers", TESTS / "deploy_helpers.py")
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "streamproc.json"
PROMETHEUS_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
RULES = DEPLOY / "prometheus" / "rules" / "streamproc.rules.yml"
RULE_TESTS = DEPLOY / "prometheus" / "tests"
ALERTMANAGER_CONFIG = DEPLOY / "alertmanager" / "alertmanager.yml"

# The contract, with the metric table.
CONTRACT = REPO / "docs" / "contract.md"

# Grafana variables and what they become for a plain PromQL evaluation: every
# model, every feature, and a 1m rate window. No other Grafana macro may appear
# in a dashboard expression.
GRAFANA_SUBSTITUTIONS = {
    "model": ".*",
    "feature": ".*",
    "__rate_interval": "1m",
}


class Metric(NamedTuple):
    name: str
    type: str  # counter, gauge, histogram
    labels: frozenset[str]


# Series that Prometheus itself produces for every target.
BUILTIN_METRICS = (Metric("up", "gauge", frozenset()),)

# Labels that Prometheus attaches to every scraped series.
TARGET_LABELS = frozenset({"job", "instance"})


# --------------------------------------------------------------------- contract


_ROW = re.compile(r"^\|\s*`(streamproc_[a-z0-9_]+)`\s*\|\s*(\w+)\s*\|(.*)\|\s*$", re.M)


def parse_metric_table(text: str) -> dict[str, Metric]:
    """Metrics from the markdown table ``| `name` | type | `label`, ... |``.

    >>> t = "| `streamproc_x_total` | counter | `model` |\\n| `streamproc_y` | gauge | none |"
    >>> sorted((m.name, m.type, sorted(m.labels)) for m in parse_metric_table(t).values())
    [('streamproc_x_total', 'counter', ['model']), ('streamproc_y', 'gauge', [])]
    """
    return {
        name: Metric(name, kind, frozenset(re.findall(r"`(\w+)`", labels)))
        for name, kind, labels in _ROW.findall(text)
    }


def known_metrics(contract: Path = CONTRACT) -> dict[str, Metric]:
    """Contract metrics plus BUILTIN_METRICS, by name."""
    metrics = parse_metric_table(contract.read_text())
    for m in BUILTIN_METRICS:
        metrics.setdefault(m.name, m)
    return metrics


def series_labels(name: str, metrics: dict[str, Metric]) -> frozenset[str] | None:
    """Labels a series name may carry (histogram suffixes included), None if unknown."""
    if name in metrics and metrics[name].type != "histogram":
        return metrics[name].labels | TARGET_LABELS
    for suffix, extra in (("_bucket", {"le"}), ("_count", set()), ("_sum", set())):
        base = name.removesuffix(suffix)
        if base != name and base in metrics and metrics[base].type == "histogram":
            return metrics[base].labels | TARGET_LABELS | extra
    return None


# -------------------------------------------------------------------- dashboard
class Target(NamedTuple):
    panel: str
    ref_id: str
    expr: str  # as written in the dashboard, Grafana variables included


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))  # collapsed rows nest panels


def dashboard_targets(path: Path | str = DASHBOARD) -> list[Target]:
    """Every query target of every panel (rows included), in dashboard order."""
    dashboard = json.loads(Path(path).read_text())
    return [
        Target(panel.get("title", ""), target.get("refId", ""), target.get("expr", ""))
        for panel in _panels(dashboard.get("panels", []))
        for target in panel.get("targets", [])
    ]


def substitute_grafana_variables(expr: str) -> str:
    """Replace ``$var`` and ``${var}`` by GRAFANA_SUBSTITUTIONS (others are kept).

    >>> substitute_grafana_variables('rate(x{model=~"$model"}[${__rate_interval}])')
    'rate(x{model=~".*"}[1m])'
    """

    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        return GRAFANA_SUBSTITUTIONS.get(name, m.group(0))

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", repl, expr)


def dashboard_queries(
    path: Path | str = DASHBOARD, *, include_annotations: bool = False
) -> list[str]:
    """Every dashboard PromQL expression (``targets[].expr``), ready to evaluate.

    Grafana variables are substituted: ``$model`` and ``$feature`` by ``.*``,
    ``$__rate_interval`` by ``1m``. With ``include_annotations`` the annotation
    queries are appended (they only return data while alerts are being raised).
    Template variable queries (``label_values(...)``) are not PromQL and are
    not included.
    """
    exprs = [t.expr for t in dashboard_targets(path)]
    if include_annotations:
        dashboard = json.loads(Path(path).read_text())
        exprs += [
            a["expr"] for a in dashboard.get("annotations", {}).get("list", []) if a.get("expr")
        ]
    return [substitute_grafana_variables(e) for e in exprs]


# ----------------------------------------------------------------------- PromQL
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_IDENT = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SELECTOR = re.compile(rf"({_IDENT})?\s*\{{([^}}]*)\}}")
_LABEL_LIST = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_KEYWORDS = frozenset(
    "by without on ignoring group_left group_right offset bool and or unless "
    "inf nan atan2 start end".split()
)


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects (functions, keywords, labels excluded).

    >>> sorted(metric_names('sum by (m) (rate(a_total{m="x y"}[5m])) / on (m) b:c:d offset 1h'))
    ['a_total', 'b:c:d']
    """
    text = _STRING.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range and subquery windows
    text = _LABEL_LIST.sub(" ", text)
    names = set()
    for m in re.finditer(rf"(?<![\w.$]){_IDENT}", text):
        name = m.group(0)
        following = text[m.end() :].lstrip()
        if following.startswith("(") or name.lower() in _KEYWORDS:
            continue  # a function call or a keyword
        names.add(name)
    return names


def selector_labels(expr: str) -> list[tuple[str, set[str]]]:
    """(metric name, label names matched) for each ``name{...}`` selector.

    >>> [(n, sorted(ls)) for n, ls in selector_labels('rate(a_total{model=~"$m", job!="x"}[1m])')]
    [('a_total', ['job', 'model'])]
    """
    text = _STRING.sub('""', expr)
    return [
        (m.group(1), set(re.findall(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)", m.group(2))))
        for m in _SELECTOR.finditer(text)
        if m.group(1)
    ]


# ------------------------------------------------------------------------ rules
def recording_rule_names(rules_text: str) -> set[str]:
    """Names defined by ``record:`` in a rules file."""
    return set(re.findall(r"^\s*-?\s*record:\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*$", rules_text, re.M))


def rule_expressions(rules_text: str) -> list[str]:
    """Every ``expr:`` of a rules file, single-line or block scalar (``|``, ``>-``)."""
    exprs: list[str] = []
    lines = rules_text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^(\s*)-?\s*expr:\s*(.*)$", line)
        if not m:
            continue
        value = m.group(2).strip()
        if value and value[0] not in "|>":
            exprs.append(
                value.strip("'\"") if value[0] in "'\"" and value[-1] == value[0] else value
            )
            continue
        block, indent = [], len(m.group(1))
        for nxt in lines[i + 1 :]:
            if nxt.strip() and len(nxt) - len(nxt.lstrip()) <= indent:
                break
            block.append(nxt.strip())
        exprs.append(" ".join(b for b in block if b))
    return exprs


def alert_blocks(rules_text: str) -> list[tuple[str, str]]:
    """(alert name, text of its rule) for each ``- alert:`` of a rules file.

    A plain-text reader for the layout of our rules file (one rule per ``-``
    item), so the checks run without PyYAML; promtool checks the YAML itself.
    """
    starts = [
        (m.start(), m.group(1)) for m in re.finditer(r"^\s*- alert:\s*(\w+)\s*$", rules_text, re.M)
    ]
    ends = [m.start() for m in re.finditer(r"^\s*- (?:alert|record|name):", rules_text, re.M)]
    blocks = []
    for start, name in starts:
        end = min((e for e in ends if e > start), default=len(rules_text))
        blocks.append((name, rules_text[start:end]))
    return blocks


def load_yaml(path: Path | str) -> Any:
    """Parse a YAML file with PyYAML (imported here: tests skip when it is absent)."""
    import yaml  # noqa: PLC0415

    with open(path) as f:
        return yaml.safe_load(f)
