"""Commands that run with Kafka: broker, worker, demo, produce, alerts; status (of workers)."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Iterator
from typing import Any

import orjson

from streamproc.commands import fail, kafka_failure, load_config, quiet_kafka_logs

# what the embedded Tansu build accepts (postgres:// and sqlite:// are not compiled in)
STORAGE_SCHEMES = ("memory", "s3")


def cmd_broker(args: argparse.Namespace) -> int:
    from streamproc.broker import BrokerError, EmbeddedBroker

    storage = getattr(args, "storage", None)
    if storage and storage.split("://", 1)[0] not in STORAGE_SCHEMES:
        return fail(
            f"--storage {storage}: this broker stores in {', '.join(STORAGE_SCHEMES)} "
            "(e.g. memory:// or s3://bucket/)"
        )
    broker = EmbeddedBroker(port=args.port, host=args.host, log_path=args.log, storage=storage)
    try:
        broker.start()
    except BrokerError as exc:
        return fail(str(exc), 1)
    print(
        f"broker listening on {broker.bootstrap} (log: {broker.log_path}); Ctrl-C stops it",
        flush=True,
    )
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        code = broker.wait()
        return fail(f"broker exited with code {code}; log: {broker.log_path}", 1)
    except KeyboardInterrupt:
        return 0
    finally:
        broker.stop()


def cmd_worker(args: argparse.Namespace) -> int:
    # Until the worker handles signals itself (stream/stopping.py), a SIGINT or
    # SIGTERM ends it at once and quietly: it has nothing to commit yet (the
    # imports alone take seconds on a busy machine).
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: os._exit(0))
    from streamproc.stream.app import run_worker

    try:
        config = load_config(
            args,
            bootstrap=args.bootstrap,
            metrics_port=args.metrics_port,
            group_id=args.group_id,
            log_level=args.log_level,
            decoders=args.decoders,
        )
    except ValueError as exc:
        return fail(str(exc))
    run_worker(config)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from streamproc.broker import BrokerError
    from streamproc.demo import run_demo

    try:
        return run_demo(duration=args.duration, rate=args.rate)
    except BrokerError as exc:
        return fail(str(exc), 1)


def cmd_produce(args: argparse.Namespace) -> int:
    from aiokafka.errors import KafkaError

    from streamproc.kafka_io import produce
    from streamproc.simulate import Scenario, generate

    quiet_kafka_logs()
    try:
        config = load_config(args, bootstrap=args.bootstrap)
        topic = args.topic or config.topics.events
        if args.simulate:
            scenario = Scenario.demo(drift_at=args.drift_at)
            batches = generate(scenario, events=args.events, batch=1000)
            source: Iterator[dict[str, Any]] = (e for batch in batches for e in batch)
        elif args.input:
            source = _read_raw_events(args.input)
        else:
            raise ValueError("give --input FILE or --simulate")
        sent = asyncio.run(
            produce(
                config.bootstrap,
                topic,
                source,
                per_record=args.per_record,
                rate=args.rate,
                restamp=args.simulate,
                security=config,
            )
        )
    except KafkaError as exc:
        return kafka_failure(exc, config)
    except (OSError, ValueError) as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        return 130
    print(f"sent {sent} events to {topic}", file=sys.stderr)
    return 0


def _read_raw_events(path: str) -> Iterator[dict[str, Any]]:
    with open(path, "rb") as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                try:
                    yield orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{number}: not valid JSON ({exc})") from None


def cmd_alerts(args: argparse.Namespace) -> int:
    from aiokafka.errors import KafkaError

    from streamproc.events.alerts import Alert, format_alert
    from streamproc.kafka_io import follow_alerts

    quiet_kafka_logs()
    try:
        config = load_config(args, bootstrap=args.bootstrap)
    except ValueError as exc:
        return fail(str(exc))

    def show(alert: Alert) -> None:
        print(alert.to_json().decode() if args.json else format_alert(alert), flush=True)

    def unreadable(offset: int) -> None:
        print(f"(unreadable alert at offset {offset})", flush=True)

    try:
        asyncio.run(
            follow_alerts(
                config.bootstrap,
                args.topic or config.topics.alerts,
                show,
                unreadable,
                done=lambda idle: not args.follow and idle >= args.idle,
                security=config,
            )
        )
    except KafkaError as exc:
        return kafka_failure(exc, config)
    except KeyboardInterrupt:
        return 0
    return 0


DEFAULT_STATUS_URL = "http://localhost:9108"


def fetch_status(url: str, timeout: float) -> dict[str, Any]:
    """A worker's ``/status`` document; ``url`` is its metrics address (``/status`` is added)."""
    import urllib.error
    import urllib.request

    address = url.rstrip("/") if "://" in url else f"http://{url.rstrip('/')}"
    if not address.endswith("/status"):
        address += "/status"
    try:
        with urllib.request.urlopen(address, timeout=timeout) as response:
            doc = orjson.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise OSError(
            f"{address}: HTTP {exc.code} (is this a streamproc worker's metrics port?)"
        ) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        raise OSError(f"{address}: not reachable ({reason})") from None
    except orjson.JSONDecodeError:
        raise OSError(f"{address}: the answer is not JSON (not a streamproc worker?)") from None
    except ValueError as exc:  # a malformed URL
        raise OSError(f"{url}: {exc}") from None
    if not isinstance(doc, dict) or doc.get("schema") != "status.v1":
        raise OSError(f"{address}: not a streamproc status document")
    return doc


def cmd_status(args: argparse.Namespace) -> int:
    from streamproc.stream.status import format_status

    urls = args.worker or [DEFAULT_STATUS_URL]
    answers: list[tuple[str, dict[str, Any]]] = []
    missing: list[str] = []
    for url in urls:
        try:
            answers.append((url, fetch_status(url, args.timeout)))
        except OSError as exc:
            missing.append(str(exc))
    if args.json:
        out = [{"url": url, "status": doc} for url, doc in answers]
        out += [{"error": why} for why in missing]
        sys.stdout.buffer.write(orjson.dumps(out, option=orjson.OPT_INDENT_2) + b"\n")
    elif answers:
        print("\n\n".join(format_status(url, doc) for url, doc in answers))
    if not answers:
        for why in missing:
            fail(why, 1)
        return 1
    if missing:
        print(
            f"{len(answers)} of {len(urls)} workers answered; not answering: " + "; ".join(missing),
            file=sys.stderr,
        )
    return 0
