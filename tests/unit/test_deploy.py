"""Static checks of the deployment files: Prometheus, Alertmanager, Grafana,
docker-compose.yml, Kubernetes manifests and the Dockerfile.

External tools: ``promtool`` (Debian/Ubuntu: ``apt-get install prometheus``) and
``amtool`` (``prometheus-alertmanager``) are required in CI (env ``CI`` set)
and skipped otherwise; ``kubectl`` is used when present. YAML
structure checks need PyYAML and are skipped without it; promtool and amtool
validate the same files either way.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("deploy_helpers", TESTS / "deploy_helpers.py")
assert _spec and _spec.loader
h = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("deploy_helpers", h)
_spec.loader.exec_module(h)

REPO = h.REPO
COMPOSE = REPO / "docker-compose.yml"
K8S = h.DEPLOY / "k8s"
GRAFANA = h.DEPLOY / "grafana"
TOPICS = {
    "inference.events",
    "inference.labels",
    "monitor.baselines",
    "monitor.alerts",
    "inference.events.dlq",
}


# ------------------------------------------------------------------------ tools
def tool(name: str, install_hint: str, *, required_in_ci: bool = True) -> str:
    """Path of a command-line tool; skip (or fail in CI) when it is missing."""
    path = shutil.which(name)
    if path:
        return path
    if required_in_ci and os.environ.get("CI"):
        pytest.fail(f"{name} not found: {install_hint}")
    pytest.skip(f"{name} not found: {install_hint}")


def promtool() -> str:
    return tool("promtool", "apt-get install prometheus")


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=120)


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    return out


def yaml_file(path: Path):
    pytest.importorskip("yaml", reason="PyYAML not installed: structure check skipped")
    return h.load_yaml(path)


def contract_metrics() -> dict[str, h.Metric]:
    metrics = h.known_metrics()
    assert len(metrics) > len(h.BUILTIN_METRICS), f"no metric table in {h.CONTRACT}"
    return metrics


def check_metrics(exprs: list[str], metrics: dict[str, h.Metric], recorded: set[str]) -> list[str]:
    """Problems with the metric names and label matchers used by exprs."""
    problems = []
    for expr in exprs:
        for name in sorted(h.metric_names(expr)):
            if ":" in name:
                if name not in recorded:
                    problems.append(f"{name}: no recording rule of that name ({expr})")
            elif h.series_labels(name, metrics) is None:
                problems.append(f"{name}: not in the metric contract ({expr})")
        for name, labels in h.selector_labels(expr):
            allowed = h.series_labels(name, metrics)
            if allowed is not None and labels - allowed:
                problems.append(f"{name}: unknown label(s) {sorted(labels - allowed)} ({expr})")
    return problems


# ------------------------------------------------------------------- Prometheus
RULES_TEXT = h.RULES.read_text()
ALERTS = h.alert_blocks(RULES_TEXT)
ALERT_NAMES = sorted({name for name, _ in ALERTS})


def test_prometheus_config_is_valid_and_loads_the_rules():
    out = ok(run(promtool(), "check", "config", str(h.PROMETHEUS_CONFIG)))
    # rule_files resolve relative to prometheus.yml: the rules were found and checked.
    assert h.RULES.name in out, out


def test_rules_are_valid():
    ok(run(promtool(), "check", "rules", str(h.RULES)))


def test_rule_unit_tests_pass():
    tests = sorted(h.RULE_TESTS.glob("*.yml"))
    assert tests, f"no rule tests in {h.RULE_TESTS}"
    ok(run(promtool(), "test", "rules", *map(str, tests)))


def test_expected_alerts_exist():
    for name in (
        "StreamprocDriftAlertFiring",
        "StreamprocFeaturePSIHigh",
        "StreamprocWorkerDown",
        "StreamprocEventLagHigh",
        "StreamprocDLQRateHigh",
        "StreamprocModelSilent",
    ):
        assert name in ALERT_NAMES


@pytest.mark.parametrize("name,block", ALERTS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(ALERTS)])
def test_alert_has_severity_and_annotations(name, block):
    assert re.search(r"^\s*summary:", block, re.M), f"{name}: no summary annotation"
    assert re.search(r"^\s*description:", block, re.M), f"{name}: no description annotation"
    severity = re.search(r"^\s*severity:\s*(\w+)", block, re.M)
    if severity:
        assert severity.group(1) in {"info", "warning", "critical"}, block
    else:  # severity carried over from the metric, e.g. streamproc_alerts_firing
        assert re.search(r"by \([^)]*\bseverity\b", block), f"{name}: no severity label"


def test_every_alert_is_tested_firing_and_not_firing():
    firing, silent = set(), set()
    for path in h.RULE_TESTS.glob("*.yml"):
        for m in re.finditer(r"alertname:\s*(\w+)\s*\n\s*exp_alerts:\s*(\[\])?", path.read_text()):
            (silent if m.group(2) else firing).add(m.group(1))
    assert not set(ALERT_NAMES) - firing, f"never shown firing: {set(ALERT_NAMES) - firing}"
    assert not set(ALERT_NAMES) - silent, f"never shown not firing: {set(ALERT_NAMES) - silent}"


def test_recording_rule_names_follow_level_metric_operations():
    names = h.recording_rule_names(RULES_TEXT)
    assert {
        "model:streamproc_events:rate1m",
        "model_feature:streamproc_feature_psi:max",
        "job:streamproc_events_rejected:rate5m",
    } <= names
    for name in names:
        assert re.fullmatch(r"[a-z_]+:streamproc_[a-z0-9_]+:[a-z0-9_]+", name), name


def test_rules_use_only_contract_metrics():
    metrics = contract_metrics()
    recorded = h.recording_rule_names(RULES_TEXT)
    exprs = h.rule_expressions(RULES_TEXT)
    assert len(exprs) == len(re.findall(r"^\s*- (?:record|alert):", RULES_TEXT, re.M))
    assert check_metrics(exprs, metrics, recorded) == []


def test_rule_tests_feed_contract_metrics():
    metrics = contract_metrics()
    for path in h.RULE_TESTS.glob("*.yml"):
        for name in re.findall(r"series:\s*'([a-zA-Z_:][\w:]*)\{", path.read_text()):
            assert h.series_labels(name, metrics) is not None, f"{path.name}: {name}"


# ----------------------------------------------------------------- Alertmanager
def amtool() -> str:
    return tool("amtool", "apt-get install prometheus-alertmanager")


def test_alertmanager_config_is_valid():
    ok(run(amtool(), "check-config", str(h.ALERTMANAGER_CONFIG)))


@pytest.mark.parametrize(
    "labels,receiver",
    [
        (
            ["severity=critical", "model=fraud-detector", "alertname=StreamprocDriftAlertFiring"],
            "team-fraud-page",
        ),
        (
            ["severity=warning", "model=fraud-detector", "alertname=StreamprocFeaturePSIHigh"],
            "team-fraud",
        ),
        (
            ["severity=critical", "model=churn", "alertname=StreamprocDriftAlertFiring"],
            "oncall-page",
        ),
        (["severity=critical", "alertname=StreamprocNoWorkerUp", "job=streamproc"], "oncall-page"),
        (["severity=warning", "model=churn", "alertname=StreamprocModelSilent"], "default"),
        (["severity=info", "model=churn", "alertname=StreamprocDriftAlertFiring"], "blackhole"),
    ],
)
def test_alertmanager_routes_by_severity_and_model(labels, receiver):
    proc = run(
        amtool(),
        "config",
        "routes",
        "test",
        f"--config.file={h.ALERTMANAGER_CONFIG}",
        f"--verify.receivers={receiver}",
        *labels,
    )
    ok(proc)
    assert proc.stdout.strip() == receiver, proc.stdout


def test_alertmanager_structure():
    config = yaml_file(h.ALERTMANAGER_CONFIG)
    assert set(config["route"]["group_by"]) == {"alertname", "model"}
    inhibit = config["inhibit_rules"][0]
    assert inhibit["source_matchers"] == ['severity="critical"']
    assert inhibit["target_matchers"] == ['severity="warning"']
    assert {"alertname", "model"} <= set(inhibit["equal"])
    assert any(r.get("webhook_configs") for r in config["receivers"])


# ---------------------------------------------------------------------- Grafana
DASHBOARD = json.loads(h.DASHBOARD.read_text())
TARGETS = h.dashboard_targets(h.DASHBOARD)


def test_dashboard_identity_and_variables():
    assert DASHBOARD["uid"] == "streamproc-overview"
    assert DASHBOARD["title"]
    variables = {v["name"]: v for v in DASHBOARD["templating"]["list"]}
    assert {"model", "feature"} <= set(variables)
    for name, metric in (
        ("model", "streamproc_events_total"),
        ("feature", "streamproc_feature_psi"),
    ):
        v = variables[name]
        query = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
        assert re.fullmatch(rf"label_values\({metric}(\{{[^}}]*\}})?, {name}\)", query), query
        assert v["multi"] and v["includeAll"] and v["allValue"] == ".*"


def test_dashboard_panels_have_queries():
    panels = list(h._panels(DASHBOARD["panels"]))
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    for panel in panels:
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"]), panel["title"]
        if panel["type"] == "row":
            continue
        assert panel.get("targets"), f"panel {panel['title']!r} has no query"
        for target in panel["targets"]:
            assert target.get("expr", "").strip(), f"panel {panel['title']!r} has an empty expr"
    titles = " ".join(p["title"].lower() for p in panels)
    for word in (
        "events/s",
        "firing",
        "dlq",
        "psi",
        "heatmap",
        "null",
        "prediction psi",
        "latency",
        "lag",
        "workers up",
        "batch duration",
    ):
        assert word in titles, f"no panel about {word!r}"


def test_dashboard_queries_are_plain_promql(tmp_path):
    queries = h.dashboard_queries(h.DASHBOARD, include_annotations=True)
    assert len(queries) == len(TARGETS) + 1
    for q in queries:
        assert "$" not in q and "[[" not in q, f"Grafana macro left in {q!r}"
    # promtool parses every query as the expression of a recording rule.
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query:{i}", "expr": q} for i, q in enumerate(queries)
                ],
            }
        ]
    }
    path = tmp_path / "dashboard.rules.yml"
    path.write_text(json.dumps(rules, indent=1))  # JSON is YAML
    ok(run(promtool(), "check", "rules", str(path)))


def test_dashboard_uses_only_contract_metrics():
    metrics = contract_metrics()
    exprs = h.dashboard_queries(h.DASHBOARD, include_annotations=True)
    for v in DASHBOARD["templating"]["list"]:
        if v["type"] == "query":
            q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            exprs.append(
                h.substitute_grafana_variables(re.sub(r"^label_values\((.*), \w+\)$", r"\1", q))
            )
    assert check_metrics(exprs, metrics, set()) == []


def test_dashboard_shows_every_contract_metric():
    metrics = contract_metrics()
    used = {
        re.sub(r"_(bucket|count|sum)$", "", n)
        for q in h.dashboard_queries(h.DASHBOARD)
        for n in h.metric_names(q)
    }
    missing = {n for n in metrics if n.startswith("streamproc_")} - used
    assert not missing, f"dashboard shows no panel for {sorted(missing)}"


def test_grafana_provisioning():
    datasources = yaml_file(GRAFANA / "provisioning" / "datasources" / "prometheus.yml")
    (ds,) = datasources["datasources"]
    assert ds["type"] == "prometheus" and ds["url"] == "http://prometheus:9090"
    providers = yaml_file(GRAFANA / "provisioning" / "dashboards" / "streamproc.yml")
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    compose = yaml_file(COMPOSE)
    mounts = dict(
        v.rsplit(":", 2)[:2]
        for v in compose["services"]["grafana"]["volumes"]
        if v.startswith("./")
    )
    assert mounts["./deploy/grafana/dashboards"] == provider["options"]["path"]
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"


# ---------------------------------------------------------------------- compose
def test_compose_services():
    services = yaml_file(COMPOSE)["services"]
    assert {
        "kafka",
        "kafka-init",
        "worker-1",
        "worker-2",
        "producer",
        "prometheus",
        "alertmanager",
        "grafana",
    } <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:")
    env = services["kafka"]["environment"]
    assert "INTERNAL://kafka:19092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert "EXTERNAL://localhost:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert services["kafka-init"]["image"] == services["kafka"]["image"]
    for name in ("worker-1", "worker-2"):
        worker = services[name]
        assert worker["build"]["dockerfile"] == "deploy/Dockerfile"
        assert worker["environment"]["STREAMPROC_BOOTSTRAP"] in (
            "kafka:19092",
            "${STREAMPROC_BOOTSTRAP:-kafka:19092}",  # overridable, compose default
        )
        check = " ".join(worker["healthcheck"]["test"])
        assert "python" in check and "urllib" in check and "/health" in check
        assert worker["depends_on"]["kafka-init"]["condition"] == "service_completed_successfully"
    producer = services["producer"]
    assert producer["profiles"] == ["demo"]
    assert producer["entrypoint"] + producer["command"] == [
        "streamproc",
        "produce",
        "--simulate",
        "--rate",
        "500",
    ]


def test_compose_creates_the_topics():
    script = yaml_file(COMPOSE)["services"]["kafka-init"]["command"][0]
    assert "kafka-topics.sh" in script and "--partitions 6" in script
    for topic in TOPICS:
        assert topic in script
    assert re.search(r"monitor\.baselines[^\n]*\\\n\s*--config cleanup\.policy=compact", script)


def test_compose_mounts_exist_and_prometheus_scrapes_the_workers():
    services = yaml_file(COMPOSE)["services"]
    for service in services.values():
        for volume in service.get("volumes", []):
            if volume.startswith("./"):
                assert (REPO / volume.split(":")[0]).exists(), volume
    config = yaml_file(h.PROMETHEUS_CONFIG)
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "streamproc"]
    targets = {t for sc in job["static_configs"] for t in sc["targets"]}
    assert targets == {"worker-1:9108", "worker-2:9108"}
    assert "alertmanager:9093" in str(config["alerting"])


# --------------------------------------------------------- Dockerfile and k8s
def test_dockerfile():
    text = (h.DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.M)
    assert re.search(r"^USER (?!root|0\b)\S+", text, re.M)
    assert re.search(r"^EXPOSE 9108$", text, re.M)
    assert re.search(r'^ENTRYPOINT \["streamproc", "worker"\]$', text, re.M)
    assert 'pip install ".[broker]"' in text


def _k8s(kind: str) -> dict:
    for path in K8S.glob("*.yaml"):
        doc = yaml_file(path)
        if doc.get("kind") == kind:
            return doc
    raise AssertionError(f"no {kind} in {K8S}")


def test_k8s_manifests():
    kustomization = yaml_file(K8S / "kustomization.yaml")
    for resource in kustomization["resources"]:
        assert (K8S / resource).is_file(), resource
    for generator in kustomization["configMapGenerator"]:
        for file in generator["files"]:
            tomllib.loads((K8S / file).read_text())  # valid TOML

    deployment = _k8s("Deployment")
    spec = deployment["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert deployment["spec"]["replicas"] == 2
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert {"requests", "limits"} <= set(container["resources"])
    assert spec["securityContext"]["runAsNonRoot"] is True
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == "9108"
    config_volume = next(v for v in spec["volumes"] if "configMap" in v)
    assert config_volume["configMap"]["name"] in {
        g["name"] for g in kustomization["configMapGenerator"]
    }

    service, monitor = _k8s("Service"), _k8s("ServiceMonitor")
    assert (
        service["spec"]["ports"][0]["name"] == monitor["spec"]["endpoints"][0]["port"] == "metrics"
    )
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    # The job label the rules and the dashboard select on: job="streamproc".
    assert service["metadata"]["labels"][monitor["spec"]["jobLabel"]] == "streamproc"


def test_kustomize_builds():
    kubectl = tool("kubectl", "kubectl is optional", required_in_ci=False)
    out = ok(run(kubectl, "kustomize", str(K8S)))
    assert "kind: ServiceMonitor" in out and "name: streamproc-config-" in out
