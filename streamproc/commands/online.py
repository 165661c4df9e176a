"""Commands that run with Kafka: broker, worker, demo, produce, alerts; status (of workers)."""

from __future__ import annotations

import argparse
import asyncio
import errno
import itertools
import os
import signal
import socket
import sys
from collections.abc import Iterator
from typing import Any

import orjson

from streamproc.commands import fail, kafka_failure, load_config, quiet_kafka_logs

# what the embedded Tansu build accepts (postgres:// and sqlite:// are not compiled in)
STORAGE_SCHEMES = ("memory", "s3")
# an S3 endpoint or credentials for Tansu (without one it waits for a cloud's metadata service)
S3_SETTINGS = (
    "AWS_ENDPOINT",
    "AWS_ACCESS_KEY_ID",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
)


def cmd_broker(args: argparse.Namespace) -> int:
    from streamproc.broker import BrokerError, EmbeddedBroker, metadata_ok

    storage = getattr(args, "storage", None)
    scheme, separator, _ = (storage or "").partition("://")
    if storage and (not separator or scheme not in STORAGE_SCHEMES):
        return fail(
            f"--storage {storage}: this broker stores in {', '.join(STORAGE_SCHEMES)} "
            "(e.g. memory:// or s3://bucket/)"
        )
    if scheme == "s3" and not any(os.environ.get(name) for name in S3_SETTINGS):
        return fail(  # Tansu would wait for an S3 endpoint that nobody named
            f"--storage {storage}: no S3 endpoint or credentials: set AWS_ENDPOINT, "
            "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (and AWS_ALLOW_HTTP=true for http://)"
        )
    # a Kafka broker already there: start() says so; any other reason not to listen: here
    if not args.port or not metadata_ok(args.host, args.port, timeout=0.5):
        check_port_free(
            args.host, args.port, what="broker address", flags="--host and --port", other="program"
        )
    broker = EmbeddedBroker(port=args.port, host=args.host, log_path=args.log, storage=storage)
    try:
        broker.start()
    except BrokerError as exc:
        return fail(first_line(exc), 1)
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
    config = load_config(
        args,
        bootstrap=args.bootstrap,
        metrics_port=args.metrics_port,
        group_id=args.group_id,
        log_level=args.log_level,
        decoders=args.decoders,
    )
    check_port_free(config.metrics_host, config.metrics_port)  # before seconds of imports
    from streamproc.stream.app import run_worker

    return run_worker(config)


def first_line(error: BaseException) -> str:
    """The first line of a :class:`~streamproc.broker.BrokerError` (the rest, the
    broker's log tail, is in the log file the first line names)."""
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def check_port_free(
    host: str,
    port: int,
    *,
    what: str = "metrics port",
    flags: str = "--metrics-port or STREAMPROC_METRICS_PORT",
    other: str = "worker",
) -> None:
    """Raise ``ValueError`` naming the port if ``host:port`` cannot be listened on.

    >>> with socket.socket() as s:
    ...     s.bind(("127.0.0.1", 0)); s.listen(); port = s.getsockname()[1]
    ...     check_port_free("127.0.0.1", port)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: metrics port 127.0.0.1:... is already in use (another worker?): ...
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp does
        try:
            probe.bind((host, port))
        except OSError as exc:
            why = (
                f"is already in use (another {other}?)"
                if exc.errno == errno.EADDRINUSE
                else (f"cannot be listened on ({exc.strerror})")
            )
            raise ValueError(f"{what} {host}:{port} {why}: give another one with {flags}") from None


def cmd_demo(args: argparse.Namespace) -> int:
    from streamproc.broker import BrokerError
    from streamproc.demo import run_demo

    try:
        return run_demo(duration=args.duration, rate=args.rate)
    except BrokerError as exc:
        return fail(first_line(exc), 1)


def cmd_produce(args: argparse.Namespace) -> int:
    from aiokafka.errors import KafkaError

    from streamproc.kafka_io import produce
    from streamproc.simulate import Scenario, generate

    quiet_kafka_logs()
    try:
        config = load_config(args, bootstrap=args.bootstrap)
        topic = args.topic or config.topics.events
        check_topic_flag(args.topic)
        if args.simulate:
            scenario = Scenario.demo(drift_at=args.drift_at)
            batches = generate(scenario, events=args.events, batch=1000)
            source: Iterator[dict[str, Any]] = (e for batch in batches for e in batch)
        elif args.input:
            source = _read_raw_events(args.input)
            first = next(source, None)  # a file that is no events: said before connecting
            if first is None:
                raise ValueError(f"{args.input}: no events in the file")
            source = itertools.chain([first], source)
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
                progress=lambda line: print(line, file=sys.stderr, flush=True),
                security=config,
            )
        )
    except KafkaError as exc:
        return kafka_failure(exc, config)
    except KeyboardInterrupt:
        return 130
    print(f"sent {sent} events to {topic}", file=sys.stderr)
    return 0


def check_topic_flag(topic: str | None) -> None:
    """Raise ``ValueError`` naming ``--topic`` if it is given and not a topic name
    (a broker would time out on it, or refuse it without naming it)."""
    from streamproc.kafka_names import check_topic

    problem = None if topic is None else check_topic(topic)
    if problem is not None:
        raise ValueError(f"--topic: {problem}")


def _read_raw_events(path: str) -> Iterator[dict[str, Any]]:
    with open(path, "rb") as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                try:
                    event = orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{number}: not valid JSON ({exc})") from None
                if not isinstance(event, dict):
                    raise ValueError(f"{path}:{number}: expected a JSON object (one event)")
                yield event


def cmd_alerts(args: argparse.Namespace) -> int:
    from aiokafka.errors import KafkaError

    from streamproc.events.alerts import Alert, format_alert
    from streamproc.kafka_io import follow_alerts

    quiet_kafka_logs()
    config = load_config(args, bootstrap=args.bootstrap)
    topic = args.topic or config.topics.alerts
    check_topic_flag(args.topic)
    since = getattr(args, "since", None)
    counts = {"read": 0, "shown": 0}
    said_empty = False

    def wanted(alert: Alert) -> bool:
        return (
            (not args.model or alert.model_id in args.model)
            and (not args.status or alert.status == args.status)
            and (since is None or alert.detected_at >= since)
        )

    def show(alert: Alert) -> None:
        counts["read"] += 1
        if wanted(alert):
            counts["shown"] += 1
            print(alert.to_json().decode() if args.json else format_alert(alert), flush=True)

    def unreadable(offset: int) -> None:
        counts["read"] += 1
        print(f"(unreadable alert at offset {offset})", flush=True)

    def done(idle: float) -> bool:
        nonlocal said_empty
        if args.follow and not said_empty and idle >= args.idle and not counts["read"]:
            said_empty = True
            print(
                f"no alerts on {topic} at {config.bootstrap} yet; waiting (Ctrl-C stops)",
                file=sys.stderr,
                flush=True,
            )
        return not args.follow and idle >= args.idle

    try:
        asyncio.run(
            follow_alerts(config.bootstrap, topic, show, unreadable, done=done, security=config)
        )
    except KafkaError as exc:
        return kafka_failure(exc, config)
    except KeyboardInterrupt:
        return 0
    if not counts["read"]:
        print(f"no alerts on {topic} at {config.bootstrap}", file=sys.stderr)
    elif not counts["shown"]:
        print(
            f"{counts['read']} alerts on {topic}, none matching --model/--status/--since",
            file=sys.stderr,
        )
    return 0


DEFAULT_STATUS_URL = "http://localhost:9108"


def fetch_status(url: str, timeout: float) -> dict[str, Any]:
    """A worker's ``/status`` document; ``url`` is its metrics address (``/status`` is added)."""
    import http.client
    import urllib.error
    import urllib.request

    address = url.rstrip("/") if "://" in url else f"http://{url.rstrip('/')}"
    if not address.startswith(("http://", "https://")):
        raise OSError(f"--worker {url}: expected an http:// or https:// address")
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
    except (ValueError, http.client.InvalidURL) as exc:  # a malformed URL
        raise OSError(f"--worker {url}: {exc}") from None
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
