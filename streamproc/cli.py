"""The ``streamproc`` command (see ``streamproc --help``)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from streamproc import __version__

DEFAULT_BOOTSTRAP = "localhost:9092"


def _fail(message: str, code: int = 2) -> int:
    print(f"streamproc: error: {message}", file=sys.stderr)
    return code


# -- commands -------------------------------------------------------------------


def cmd_broker(args: argparse.Namespace) -> int:
    from streamproc.broker import BrokerError, EmbeddedBroker

    broker = EmbeddedBroker(port=args.port, host=args.host, log_path=args.log)
    try:
        broker.start()
    except BrokerError as exc:
        return _fail(str(exc), 1)
    print(
        f"broker listening on {broker.bootstrap} (log: {broker.log_path}); Ctrl-C stops it",
        flush=True,
    )
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        code = broker.wait()
        return _fail(f"broker exited with code {code}; log: {broker.log_path}", 1)
    except KeyboardInterrupt:
        return 0
    finally:
        broker.stop()


def _config(args: argparse.Namespace, **flags: Any):
    from streamproc.config import load_config

    return load_config(getattr(args, "config", None), flags=flags)


def cmd_worker(args: argparse.Namespace) -> int:
    from streamproc.stream.app import run_worker

    try:
        config = _config(
            args,
            bootstrap=args.bootstrap,
            metrics_port=args.metrics_port,
            group_id=args.group_id,
            log_level=args.log_level,
            decoders=args.decoders,
        )
    except ValueError as exc:
        return _fail(str(exc))
    run_worker(config)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from streamproc.broker import BrokerError
    from streamproc.demo import run_demo

    try:
        return run_demo(duration=args.duration, rate=args.rate)
    except BrokerError as exc:
        return _fail(str(exc), 1)


def cmd_baseline_fit(args: argparse.Namespace) -> int:
    from streamproc.contracts import EventColumns, validate_event
    from streamproc.detect.baseline import Baseline

    try:
        config = _config(args, bootstrap=args.bootstrap)
        events = _reference_events(args.input, args.model)
    except (OSError, ValueError) as exc:
        return _fail(str(exc))
    problems = [(i, p) for i, e in enumerate(events) if (p := validate_event(e)) is not None]
    for index, problem in problems[:10]:
        print(f"skipped reference row {index + 1}: {problem.detail}", file=sys.stderr)
    valid = [e for i, e in enumerate(events) if validate_event(e) is None]
    if not valid:
        return _fail(f"{args.input}: no valid reference rows")
    s = config.detectors.for_model(args.model, config.model_overrides)
    columns = EventColumns.from_events(args.model, valid, default_timestamp=time.time())
    baseline = Baseline.fit(
        columns,
        bins=s.numeric_bins,
        max_categories=s.max_categories,
        min_share=s.min_category_share,
        model_version=args.model_version,
    )
    payload = orjson.dumps(baseline.to_dict(), option=orjson.OPT_INDENT_2)
    if args.output:
        Path(args.output).write_bytes(payload + b"\n")
        print(
            f"baseline of {args.model}: {len(baseline.features)} features from "
            f"{baseline.events} events -> {args.output}",
            file=sys.stderr,
        )
    if args.publish:
        asyncio.run(_publish(config.bootstrap, config.topics.baselines, args.model, payload))
        print(f"published to {config.topics.baselines} at {config.bootstrap}", file=sys.stderr)
    if not args.output and not args.publish:
        sys.stdout.buffer.write(payload + b"\n")
    return 0


def _reference_events(path: str, model_id: str) -> list[dict[str, Any]]:
    from streamproc.files import read_reference

    return read_reference(path, model_id=model_id)


async def _publish(bootstrap: str, topic: str, key: str, value: bytes) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key.encode())
    finally:
        await producer.stop()


def cmd_replay(args: argparse.Namespace) -> int:
    from streamproc.detect.baseline import Baseline
    from streamproc.detect.monitor import Monitor
    from streamproc.files import decoded_line_batches

    try:
        config = _config(args)
        baselines = [Baseline.from_dict(orjson.loads(Path(p).read_bytes())) for p in args.baseline]
    except (OSError, ValueError) as exc:
        return _fail(str(exc))
    monitor = Monitor(config.detectors, overrides=config.model_overrides, baselines=baselines)
    out = sys.stdout.buffer
    counts: Counter[str] = Counter()
    started = time.perf_counter()
    try:
        for numbers, decoded in decoded_line_batches(args.input, event_ids=False):
            gc.disable()  # short-lived containers, no cycles (see stream/ingest.py)
            try:
                alerts = monitor.process(decoded.columns, now=time.time())
            finally:
                gc.enable()
            for index, rejection in decoded.rejections:
                counts["rejected"] += 1
                if counts["rejected"] <= 20:
                    print(
                        f"{args.input}:{numbers[index]}: rejected: {rejection.detail}",
                        file=sys.stderr,
                    )
            counts["events"] += decoded.events
            for alert in alerts:
                counts[alert.status] += 1
                out.write(alert.to_json() + b"\n")
    except OSError as exc:
        return _fail(str(exc))
    out.flush()
    elapsed = time.perf_counter() - started
    print(
        f"replayed {counts['events']} events of {len(monitor.models)} model(s) in {elapsed:.2f} s "
        f"({counts['events'] / max(elapsed, 1e-9):,.0f} events/s): "
        f"{counts['firing']} firing, {counts['resolved']} resolved, "
        f"{counts['rejected']} rejected",
        file=sys.stderr,
    )
    return 0


def cmd_produce(args: argparse.Namespace) -> int:
    try:
        config = _config(args, bootstrap=args.bootstrap)
        topic = args.topic or config.topics.events
        sent = asyncio.run(_produce(args, config.bootstrap, topic))
    except (OSError, ValueError) as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return 130
    print(f"sent {sent} events to {topic}", file=sys.stderr)
    return 0


async def _produce(args: argparse.Namespace, bootstrap: str, topic: str) -> int:
    from aiokafka import AIOKafkaProducer

    from streamproc.simulate import Scenario, generate

    if args.simulate:
        scenario = Scenario.demo(drift_at=args.drift_at)
        source = (e for batch in generate(scenario, events=args.events, batch=1000) for e in batch)
    elif args.input:
        source = _read_raw_events(args.input)
    else:
        raise ValueError("give --input FILE or --simulate")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=10)
    await producer.start()
    sent = 0
    started = time.monotonic()
    pending: list[dict[str, Any]] = []
    try:
        for event in source:
            if args.simulate:
                event["timestamp"] = time.time()
            pending.append(event)
            if len(pending) < args.per_record:
                continue
            sent += await _send(producer, topic, pending)
            pending = []
            if args.rate:
                ahead = sent / args.rate - (time.monotonic() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
        if pending:
            sent += await _send(producer, topic, pending)
        await producer.flush()
    finally:
        await producer.stop()
    return sent


async def _send(producer: Any, topic: str, events: list[dict[str, Any]]) -> int:
    key = str(events[0].get("model_id", "")).encode()
    value = orjson.dumps(events[0] if len(events) == 1 else events)
    await producer.send(topic, value, key=key)
    return len(events)


def _read_raw_events(path: str):
    with open(path, "rb") as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                try:
                    yield orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{number}: not valid JSON ({exc})") from None


def cmd_alerts(args: argparse.Namespace) -> int:
    try:
        config = _config(args, bootstrap=args.bootstrap)
    except ValueError as exc:
        return _fail(str(exc))
    try:
        asyncio.run(_alerts(config.bootstrap, args.topic or config.topics.alerts, args))
    except KeyboardInterrupt:
        return 0
    return 0


async def _alerts(bootstrap: str, topic: str, args: argparse.Namespace) -> None:
    from aiokafka import AIOKafkaConsumer

    from streamproc.contracts import Alert, format_alert

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        idle = 0.0
        while args.follow or idle < args.idle:
            batch = await consumer.getmany(timeout_ms=500)
            idle = 0.0 if batch else idle + 0.5
            for records in batch.values():
                for record in records:
                    try:
                        alert = Alert.from_dict(orjson.loads(record.value))
                    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                        print(f"(unreadable alert at offset {record.offset})", flush=True)
                        continue
                    if args.json:
                        print(alert.to_json().decode(), flush=True)
                    else:
                        print(format_alert(alert), flush=True)
    finally:
        await consumer.stop()


# -- parser -----------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamproc",
        description="Streaming drift and integration monitoring for ML models "
        "(Kafka in; alerts and Prometheus metrics out).",
    )
    parser.add_argument("--version", action="version", version=f"streamproc {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_: str, func, **kw: Any) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_, **kw)
        p.set_defaults(func=func)
        return p

    def kafka(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--bootstrap",
            metavar="HOST:PORT",
            help=f"Kafka bootstrap servers (env STREAMPROC_BOOTSTRAP, default {DEFAULT_BOOTSTRAP})",
        )

    def config(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--config",
            metavar="FILE",
            help='TOML file with [worker], [detectors] and [models."ID"] tables '
            "(env STREAMPROC_CONFIG)",
        )

    p = add(
        "broker", "Run the embedded Kafka-compatible broker (Tansu) in the foreground.", cmd_broker
    )
    p.add_argument("--port", type=int, default=9092, help="port to listen on (default 9092)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--log", metavar="FILE", help="broker log file (default: a temp file)")

    p = add(
        "worker", "Run a processing worker: events in; alerts, DLQ and /metrics out.", cmd_worker
    )
    kafka(p)
    config(p)
    p.add_argument(
        "--metrics-port",
        type=int,
        metavar="N",
        help="port of /metrics, /health, /ready (env STREAMPROC_METRICS_PORT, default 9108)",
    )
    p.add_argument("--group-id", help="consumer group (default streamproc)")
    p.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    p.add_argument(
        "--decoders",
        type=int,
        metavar="N",
        help="child processes decoding events beside the worker (env STREAMPROC_DECODERS; "
        "default 1 with 2 or more CPUs, else 0)",
    )

    p = add(
        "demo",
        "Broker, worker and drifting synthetic traffic on this machine, with live alerts.",
        cmd_demo,
    )
    p.add_argument(
        "--duration",
        type=float,
        default=90.0,
        metavar="S",
        help="total run time in seconds (default 90)",
    )
    p.add_argument(
        "--rate", type=float, default=2000.0, metavar="N", help="events per second (default 2000)"
    )

    baseline = sub.add_parser(
        "baseline",
        help="Fit and publish baselines.",
        description="Fit and publish baselines (reference profiles).",
    )
    bsub = baseline.add_subparsers(dest="baseline_command", required=True, metavar="COMMAND")
    p = bsub.add_parser(
        "fit",
        help="Fit a baseline from JSON lines or CSV reference data.",
        description="Fit a baseline from JSON lines (events or flat rows) or "
        "CSV (one column per feature; 'prediction' column optional). Prints "
        "the baseline JSON unless --output or --publish is given.",
    )
    p.set_defaults(func=cmd_baseline_fit)
    p.add_argument("--model", required=True, help="model id")
    p.add_argument("--model-version", help="model version the baseline belongs to")
    p.add_argument("--input", required=True, metavar="FILE", help=".jsonl or .csv file")
    p.add_argument("--output", metavar="FILE", help="write the baseline JSON here")
    p.add_argument("--publish", action="store_true", help="publish it to the baselines topic")
    kafka(p)
    config(p)

    p = add(
        "replay",
        "Run the detectors over a JSON-lines file of events, without Kafka; "
        "print alert events as JSON lines.",
        cmd_replay,
    )
    p.add_argument("--input", required=True, metavar="FILE", help="JSON-lines events")
    p.add_argument(
        "--baseline",
        action="append",
        default=[],
        metavar="FILE",
        help="baseline JSON (repeat for several models); without one, each model "
        "learns its baseline from its first events",
    )
    config(p)

    p = add("produce", "Publish events from a JSON-lines file (or synthetic ones).", cmd_produce)
    p.add_argument("--input", metavar="FILE", help="JSON-lines events")
    p.add_argument(
        "--rate", type=float, metavar="N", help="events per second (default: as fast as possible)"
    )
    p.add_argument(
        "--per-record",
        type=int,
        default=1,
        metavar="N",
        help="events per Kafka record; above 1 they are sent as JSON arrays",
    )
    p.add_argument("--topic", help="topic (default inference.events)")
    p.add_argument(
        "--simulate", action="store_true", help="send synthetic demo traffic instead of a file"
    )
    p.add_argument("--events", type=int, default=100_000, help="with --simulate: how many")
    p.add_argument(
        "--drift-at",
        type=int,
        default=20_000,
        help="with --simulate: event number where drift starts",
    )
    kafka(p)
    config(p)

    p = add("alerts", "Print alerts from the alert topic, readable by a person.", cmd_alerts)
    p.add_argument("--follow", "-f", action="store_true", help="keep waiting for new alerts")
    p.add_argument("--json", action="store_true", help="print alert JSON instead")
    p.add_argument(
        "--idle",
        type=float,
        default=2.0,
        metavar="S",
        help="without --follow: stop after S seconds with no new alert (default 2)",
    )
    p.add_argument("--topic", help="topic (default monitor.alerts)")
    kafka(p)
    config(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
