"""A real Prometheus scrapes a real worker: the drift rule fires, the dashboard has data.

Needs the ``prometheus`` binary (Debian package ``prometheus``). In CI (env
``CI`` set) its absence fails the test; elsewhere the test is skipped with
the command that installs it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.parse
import urllib.request

import orjson
import pytest

from streamproc.broker import free_port
from streamproc.detect.baseline import Baseline
from streamproc.events.columns import EventColumns
from streamproc.simulate import Scenario, generate, labels_for
from tests.conftest import produce, unique_topics, wait_for
from tests.deploy_helpers import RULES, dashboard_queries

pytestmark = pytest.mark.integration


def prometheus_binary() -> str:
    path = shutil.which("prometheus")
    if path:
        return path
    message = "prometheus not found: apt-get install prometheus"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def query(base: str, path: str, **params: str) -> dict:
    url = f"{base}{path}?{urllib.parse.urlencode(params)}" if params else f"{base}{path}"
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


@pytest.fixture(scope="module")
def prometheus_with_worker(bootstrap, start_worker, tmp_path_factory):
    binary = prometheus_binary()
    tmp = tmp_path_factory.mktemp("prometheus")
    worker = start_worker(unique_topics())
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {
                "job_name": "streamproc",
                "static_configs": [{"targets": [f"127.0.0.1:{worker.port}"]}],
            }
        ],
    }
    (tmp / "prometheus.yml").write_text(json.dumps(config))  # JSON is valid YAML
    port = free_port()
    log = open(tmp / "prometheus.log", "wb")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            with urllib.request.urlopen(f"{base}/-/ready", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    try:
        assert wait_for(up, timeout=30), (tmp / "prometheus.log").read_text()[-2000:]
        yield base, worker
    finally:
        process.terminate()
        process.wait(10)
        log.close()


def publish_baseline_with_labels(bootstrap: str, topic: str) -> None:
    """A baseline of the model fitted with ground truth, so that realized and
    estimated performance are measured (both have dashboard panels)."""
    scenario = Scenario.demo(model_id="prom-model", drift_at=None)
    events = [e for batch in generate(scenario, events=20_000, batch=5_000) for e in batch]
    truth = [label["label"] for label in labels_for(events, delay_seconds=0.0)]
    columns = EventColumns.from_events("prom-model", events, default_timestamp=0.0)
    baseline = Baseline.fit(columns, labels=truth)
    produce(bootstrap, topic, [(b"prom-model", orjson.dumps(baseline.to_dict()))])


def send_traffic(bootstrap: str, topics, seconds: float, rate: float = 1000.0) -> None:
    """Drifting traffic in real time (so rates are non-zero), its labels, and a
    few bad records."""
    scenario = Scenario.demo(model_id="prom-model", drift_at=int(rate * 4), error_rate=0.01)
    start = time.time()
    for i, batch in enumerate(generate(scenario, events=int(rate * seconds), batch=int(rate / 4))):
        now = time.time()
        for event in batch:
            event["timestamp"] = now
            event["event_id"] = f"{event['event_id']}-{now}"
        records = [(b"prom-model", orjson.dumps(e)) for e in batch]
        records.append((b"prom-model", b"{broken json"))
        produce(bootstrap, topics.events, records)
        labels = [(b"prom-model", orjson.dumps(x)) for x in labels_for(batch, delay_seconds=0.0)]
        produce(bootstrap, topics.labels, labels)
        delay = start + (i + 1) / 4 - time.time()
        if delay > 0:
            time.sleep(delay)


def test_drift_rule_fires_and_every_dashboard_query_returns_data(bootstrap, prometheus_with_worker):
    base, worker = prometheus_with_worker
    publish_baseline_with_labels(bootstrap, worker.topics.baselines)
    send_traffic(bootstrap, worker.topics, seconds=20)

    def drift_alert_state() -> str | None:
        alerts = query(base, "/api/v1/alerts")["data"]["alerts"]
        states = [
            a["state"]
            for a in alerts
            if a["labels"].get("alertname") == "StreamprocDriftAlertFiring"
            and a["labels"].get("model") == "prom-model"
        ]
        return "firing" if "firing" in states else (states[0] if states else None)

    # The rule has `for: 1m`: pending first, firing a minute later.
    assert wait_for(lambda: drift_alert_state() == "pending", timeout=30)
    keep_sending_until = time.time() + 75
    while drift_alert_state() != "firing" and time.time() < keep_sending_until:
        send_traffic(bootstrap, worker.topics, seconds=5)
    assert drift_alert_state() == "firing"

    empty = []
    for expr in dashboard_queries():
        result = query(base, "/api/v1/query", query=expr)
        assert result["status"] == "success", (expr, result)
        if not result["data"]["result"]:
            empty.append(expr)
    assert not empty, f"dashboard queries without data: {empty}"
