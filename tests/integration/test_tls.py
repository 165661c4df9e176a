"""Every Kafka-facing command over TLS, against a real TLS endpoint; a refused SASL login.

The embedded broker (Tansu) has no TLS of its own in this build, so
``stunnel4`` terminates TLS in front of it and the broker advertises the TLS
port: every client connection, bootstrap and data, goes through TLS. A
throwaway CA and server certificate are made with the ``openssl`` CLI.

No broker here accepts a SASL login (docs/reliability.md, "TLS and SASL"), but
the embedded broker with ``--authentication`` refuses every one: the commands'
and the worker's report of a refused login is tested against it.

Needs ``stunnel4`` and ``openssl`` (Debian packages ``stunnel4``, ``openssl``).
In CI (env ``CI`` set) their absence fails the test; elsewhere the test is
skipped with the command that installs them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from streamproc.broker import EmbeddedBroker, free_port
from streamproc.kafka_security import KafkaSecurity
from streamproc.simulate import Scenario, generate
from streamproc.stream.health import broker_answers
from tests.conftest import metric, unique_topics, wait_for

pytestmark = pytest.mark.integration


def tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} not found: apt-get install {package}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def make_ca(openssl: str, folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed CA: (certificate, key)."""
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def make_server_cert(openssl: str, folder: Path, ca: tuple[Path, Path]) -> tuple[Path, Path]:
    """A server certificate for 127.0.0.1 and localhost, signed by ``ca``."""
    cert, key, csr = folder / "server.pem", folder / "server.key", folder / "server.csr"
    ext = folder / "server.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    subprocess.run(
        [openssl, "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
         "-keyout", str(key), "-out", str(csr)],
        check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run(
        [openssl, "x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]),
         "-CAcreateserial", "-days", "1", "-extfile", str(ext), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@dataclass
class TlsBroker:
    bootstrap: str  # the TLS port, which the broker advertises
    cafile: Path  # signed the server's certificate
    wrong_cafile: Path  # a CA that did not


@pytest.fixture(scope="module")
def tls_broker() -> Iterator[TlsBroker]:
    """The embedded broker behind stunnel: TLS on ``bootstrap``, nothing else reachable."""
    stunnel, openssl = tool("stunnel4", "stunnel4"), tool("openssl", "openssl")
    folder = Path(tempfile.mkdtemp(prefix="streamproc-tls-"))
    ca = make_ca(openssl, folder, "test-ca")
    wrong_ca, _ = make_ca(openssl, folder, "other-ca")
    cert, key = make_server_cert(openssl, folder, ca)
    tls_port = free_port()
    conf = folder / "stunnel.conf"
    broker = EmbeddedBroker(
        advertise=f"127.0.0.1:{tls_port}", log_path=folder / "broker.log"
    ).start()
    conf.write_text(
        f"foreground = yes\npid =\n[kafka]\naccept = 127.0.0.1:{tls_port}\n"
        f"connect = {broker.bootstrap}\ncert = {cert}\nkey = {key}\n"
    )
    with open(folder / "stunnel.log", "wb") as log:
        proxy = subprocess.Popen([stunnel, str(conf)], stdout=log, stderr=subprocess.STDOUT)
    try:
        security = KafkaSecurity(security_protocol="SSL", ssl_cafile=str(ca[0]))
        if not wait_for(lambda: broker_answers("127.0.0.1", tls_port, security=security), 10):
            raise AssertionError(f"no TLS endpoint:\n{(folder / 'stunnel.log').read_text()}")
        yield TlsBroker(f"127.0.0.1:{tls_port}", ca[0], wrong_ca)
    finally:
        proxy.terminate()
        proxy.wait(10)
        broker.stop()


def tls_env(broker: TlsBroker, topics, cafile: Path | None = None) -> dict[str, str]:
    env = {
        **os.environ,
        "STREAMPROC_BOOTSTRAP": broker.bootstrap,
        "STREAMPROC_SECURITY_PROTOCOL": "SSL",
        "STREAMPROC_SSL_CAFILE": str(cafile or broker.cafile),
    }
    for name in ("events", "baselines", "alerts", "dlq", "labels"):
        env[f"STREAMPROC_TOPIC_{name.upper()}"] = getattr(topics, name)
    return env


def streamproc(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "streamproc", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def write_events(path: Path, scenario: Scenario, n: int, seed: int) -> Path:
    with path.open("wb") as f:
        for batch in generate(scenario, events=n, batch=5000, seed=seed):
            f.write(b"".join(orjson.dumps(e) + b"\n" for e in batch))
    return path


def test_publish_produce_judge_and_read_alerts_over_tls(tls_broker, start_worker, tmp_path):
    topics = unique_topics()
    env = tls_env(tls_broker, topics)
    reference = write_events(tmp_path / "ref.jsonl", Scenario(), 10_000, 1)
    events = write_events(tmp_path / "events.jsonl", Scenario.demo(drift_at=3_000), 8_000, 2)

    fit = streamproc(
        env, "baseline", "fit", "--model", "fraud-detector", "--input", str(reference), "--publish"
    )
    assert fit.returncode == 0, fit.stderr
    assert f"published to {topics.baselines} at {tls_broker.bootstrap}" in fit.stderr

    # ready means: topics created, baselines and alerts read, the TLS probe answers
    worker = start_worker(topics, env={k: v for k, v in env.items() if k.startswith("STREAMPROC_")})
    worker_started = time.monotonic()
    produced = streamproc(env, "produce", "--input", str(events), "--per-record", "100")
    assert produced.returncode == 0, produced.stderr
    assert "sent 8000 events" in produced.stderr
    assert wait_for(lambda: metric(worker.metrics(), "streamproc_events_total") == 8000, timeout=60)
    assert "baseline for model fraud-detector (fit)" in worker.log()

    def printed() -> str:
        return streamproc(env, "alerts", "--idle", "1").stdout

    assert wait_for(lambda: "feature/country  psi" in printed(), timeout=30)
    assert all("FIRING" in line or "RESOLVED" in line for line in printed().splitlines())
    # the worker's broker probe speaks TLS too: past the 6 s it takes to call
    # the brokers lost, they are still reachable
    time.sleep(max(0.0, 8.0 - (time.monotonic() - worker_started)))
    assert metric(worker.metrics(), "streamproc_kafka_connected") == 1
    assert "brokers unreachable" not in worker.log()


@pytest.mark.parametrize(
    "command",
    [
        ("produce", "--simulate", "--events", "10"),
        ("alerts", "--idle", "1"),
        ("baseline", "fit", "--model", "m", "--input", "REFERENCE", "--publish"),
    ],
    ids=["produce", "alerts", "baseline-publish"],
)
def test_a_wrong_ca_fails_in_one_line(tls_broker, tmp_path, command):
    reference = write_events(tmp_path / "ref.jsonl", Scenario(), 300, 1)
    env = tls_env(tls_broker, unique_topics(), cafile=tls_broker.wrong_cafile)
    started = time.monotonic()
    result = streamproc(env, *(str(reference) if a == "REFERENCE" else a for a in command))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"streamproc: error: Kafka at {tls_broker.bootstrap} over SSL:")
    assert "certificate verify failed" in lines[0] and "ssl_cafile" in lines[0]
    assert time.monotonic() - started < 60


SECRET = "never-in-any-output"


def sasl_env(bootstrap: str, mechanism: str) -> dict[str, str]:
    return {
        **os.environ,
        "STREAMPROC_BOOTSTRAP": bootstrap,
        "STREAMPROC_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "STREAMPROC_SASL_MECHANISM": mechanism,
        "STREAMPROC_SASL_USERNAME": "svc",
        "STREAMPROC_SASL_PASSWORD": SECRET,
    }


@pytest.fixture(scope="module")
def sasl_broker(tmp_path_factory) -> Iterator[str]:
    """The embedded broker requiring SASL (it refuses every login: see the module's doc)."""
    log = tmp_path_factory.mktemp("sasl") / "broker.log"
    with EmbeddedBroker(authentication=True, log_path=log) as broker:
        yield broker.bootstrap


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_a_refused_sasl_login_fails_in_one_line(sasl_broker, mechanism):
    result = streamproc(sasl_env(sasl_broker, mechanism), "produce", "--simulate", "--events", "10")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"streamproc: error: Kafka at {sasl_broker} over SASL_PLAINTEXT:")
    assert "check sasl_mechanism, sasl_username and sasl_password" in lines[0]
    assert SECRET not in result.stderr + result.stdout


def test_a_worker_whose_login_is_refused_says_so_and_exits(sasl_broker):
    env = {**sasl_env(sasl_broker, "SCRAM-SHA-512"), "STREAMPROC_METRICS_PORT": str(free_port())}
    result = subprocess.run(
        [sys.executable, "-m", "streamproc", "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1
    assert "Traceback" not in output
    assert f"worker cannot start: Kafka at {sasl_broker} over SASL_PLAINTEXT: " in output
    assert "SASL login refused by the broker" in output
    assert SECRET not in output
