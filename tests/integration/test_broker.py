"""The embedded broker's lifecycle (a broker of its own, beside the session's)."""

import subprocess
import sys

import pytest

from streamproc.broker import BrokerError, EmbeddedBroker, metadata_ok

pytestmark = pytest.mark.integration


def test_start_answers_metadata_and_stop_frees_the_port(tmp_path):
    broker = EmbeddedBroker(log_path=tmp_path / "broker.log").start()
    try:
        assert metadata_ok(broker.host, broker.port)
        with pytest.raises(BrokerError, match="already has a Kafka broker"):
            EmbeddedBroker(port=broker.port).start()
    finally:
        broker.stop()
    assert not metadata_ok(broker.host, broker.port)
    assert "tansu" in (tmp_path / "broker.log").read_text().lower()


def test_missing_binary_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("CALF_TANSU_BIN", str(tmp_path / "no-such-tansu"))
    with pytest.raises(BrokerError, match="no Tansu broker binary.*CALF_TANSU_BIN"):
        EmbeddedBroker().start()


def test_broker_command_reports_a_busy_port(bootstrap):
    host, port = bootstrap.rsplit(":", 1)
    if host not in ("127.0.0.1", "localhost"):
        pytest.skip("the session broker is not local")
    result = subprocess.run(
        [sys.executable, "-m", "streamproc", "broker", "--port", port],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1 and "already has a Kafka broker" in result.stderr


def test_the_embedded_broker_refuses_transactions(tmp_path):
    """Why streamproc stays at-least-once (docs/reliability.md, "Delivery
    guarantees"): this Tansu answers InitProducerId for a transactional id with
    UNKNOWN_SERVER_ERROR. If a new build passes this, exactly-once is worth doing."""
    import asyncio

    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import UnknownError

    async def start_transactional(bootstrap: str) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id="streamproc-eos")
        try:
            await asyncio.wait_for(producer.start(), 20)
        finally:
            await producer.stop()

    with EmbeddedBroker(log_path=tmp_path / "broker.log") as broker:
        with pytest.raises(UnknownError):
            asyncio.run(start_transactional(broker.bootstrap))
