"""The ``streamproc`` command (see ``streamproc --help``): the argument parser.

The commands themselves are in :mod:`streamproc.commands.online` (with Kafka)
and :mod:`streamproc.commands.offline` (on files).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from typing import Any, NoReturn

from streamproc import __version__
from streamproc.arg_types import at_least, at_least_one, log_level, since
from streamproc.commands import describe_error, fail
from streamproc.commands.offline import cmd_baseline_fit, cmd_replay, cmd_report
from streamproc.commands.online import (
    cmd_alerts,
    cmd_broker,
    cmd_demo,
    cmd_produce,
    cmd_status,
    cmd_worker,
)

DEFAULT_BOOTSTRAP = "localhost:9092"


class Parser(argparse.ArgumentParser):
    """An argument parser whose mistakes are one line on stderr (exit code 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand; ``args.func(args)`` runs the chosen one."""
    parser = Parser(
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

    def replay_inputs(p: argparse.ArgumentParser, labels_do: str) -> None:
        """--input, --baseline and --labels of replay and report."""
        p.add_argument("--input", required=True, metavar="FILE", help="JSON-lines events")
        p.add_argument(
            "--baseline",
            action="append",
            default=[],
            metavar="FILE",
            help="baseline JSON (repeat for several models); without one, each model "
            "learns its baseline from its first events",
        )
        p.add_argument(
            "--labels",
            metavar="FILE",
            help="JSON-lines label events (in time order), joined to the events by event_id: "
            + labels_do,
        )

    p = add(
        "broker", "Run the embedded Kafka-compatible broker (Tansu) in the foreground.", cmd_broker
    )
    p.add_argument(
        "--port",
        type=at_least(int, 0, maximum=65535),
        default=9092,
        help="port to listen on (default 9092; 0: a free one)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--log", metavar="FILE", help="broker log file (default: a temp file)")
    p.add_argument(
        "--storage",
        metavar="URL",
        help="Tansu storage engine (--storage-engine): memory:// (default; topics vanish "
        "with the broker) or s3://bucket/ (AWS_ENDPOINT etc. in the environment: topics "
        "survive a restart); postgres:// and sqlite:// need a Tansu built with them",
    )

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
    p.add_argument(
        "--log-level",
        type=log_level,
        metavar="LEVEL",
        help="DEBUG, INFO, WARNING or ERROR (env STREAMPROC_LOG_LEVEL, default INFO); "
        "DEBUG also shows Faust's and aiokafka's own logs",
    )
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
        type=at_least_one(float),
        default=90.0,
        metavar="S",
        help="total run time in seconds (default 90)",
    )
    p.add_argument(
        "--rate",
        type=at_least_one(float),
        default=2000.0,
        metavar="N",
        help="events per second, at least 1 (default 2000)",
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
    p.add_argument(
        "--prediction-column",
        default="prediction",
        metavar="NAME",
        help="the column (CSV) or field (flat JSON rows) holding the prediction "
        "(default 'prediction')",
    )
    p.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="COLUMN",
        help="a column or feature not to profile, e.g. an id (repeatable)",
    )
    truth = p.add_mutually_exclusive_group()
    truth.add_argument(
        "--labels",
        metavar="FILE",
        help="label events (JSON lines) joined by event_id to the reference events: "
        "the baseline learns the reference performance",
    )
    truth.add_argument(
        "--target",
        metavar="COLUMN",
        help="the reference's column (CSV) or field holding the ground truth "
        "(taken out of the features): the baseline learns the reference performance",
    )
    kafka(p)
    config(p)

    p = add(
        "replay",
        "Run the detectors over a JSON-lines file of events, without Kafka; "
        "print alert events as JSON lines.",
        cmd_replay,
    )
    replay_inputs(p, "for the performance detectors")
    config(p)

    p = add(
        "report",
        "Replay a JSON-lines file of events, as 'replay' does, and write one "
        "self-contained HTML report: each statistic per window against its threshold, "
        "baseline vs recent distributions, performance (with --labels), the alerts.",
        cmd_report,
    )
    replay_inputs(p, "adds the performance panels")
    p.add_argument(
        "--output", default="report.html", metavar="FILE", help="HTML file (default report.html)"
    )
    config(p)

    p = add("produce", "Publish events from a JSON-lines file (or synthetic ones).", cmd_produce)
    p.add_argument("--input", metavar="FILE", help="JSON-lines events")
    p.add_argument(
        "--rate",
        type=at_least_one(float),
        metavar="N",
        help="events per second, at least 1 (default: as fast as possible)",
    )
    p.add_argument(
        "--per-record",
        type=at_least_one(int),
        default=1,
        metavar="N",
        help="events per Kafka record; above 1 they are sent as JSON arrays",
    )
    p.add_argument("--topic", help="topic (default inference.events)")
    p.add_argument(
        "--simulate", action="store_true", help="send synthetic demo traffic instead of a file"
    )
    p.add_argument(
        "--events", type=at_least_one(int), default=100_000, help="with --simulate: how many"
    )
    p.add_argument(
        "--drift-at",
        type=at_least(int, 0),
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
        type=at_least(float, 0),
        default=2.0,
        metavar="S",
        help="without --follow: stop after S seconds with no new alert (default 2)",
    )
    p.add_argument("--topic", help="topic (default monitor.alerts)")
    p.add_argument(
        "--model", action="append", metavar="ID", help="only this model's alerts (repeatable)"
    )
    p.add_argument(
        "--since",
        type=since,
        metavar="TIME",
        help="only alerts detected since TIME: ISO time (2026-11-22T01:56:51Z; local "
        "time without a zone) or a duration back from now (30s, 10m, 2h, 1d)",
    )
    p.add_argument("--status", choices=("firing", "resolved"), help="only firing or resolved")
    kafka(p)
    config(p)

    p = add(
        "status",
        "What each worker monitors: its partitions and, per model, events, rate, "
        "baseline (source and age), windows judged, open alert episodes.",
        cmd_status,
    )
    p.add_argument(
        "--worker",
        action="append",
        metavar="URL",
        help="a worker's metrics address, e.g. http://host:9108 (repeat for several; "
        "default http://localhost:9108)",
    )
    p.add_argument("--json", action="store_true", help="print the workers' /status JSON")
    p.add_argument(
        "--timeout",
        type=at_least(float, 0),
        default=3.0,
        metavar="S",
        help="seconds to wait per worker",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``streamproc`` with ``argv`` (default: the process's); return the exit code.

    The one place where a mistake becomes one line on stderr and a non-zero
    exit code: whatever a command raises is described by
    :func:`~streamproc.commands.describe_error`; with ``--log-level DEBUG``
    (or ``STREAMPROC_LOG_LEVEL=DEBUG``) the traceback comes first.
    """
    args = build_parser().parse_args(argv)
    level = getattr(args, "log_level", None) or os.environ.get("STREAMPROC_LOG_LEVEL", "")
    if args.func is not cmd_worker:  # the worker sets up its own logging
        # the Kafka clients log every failed connection; the command says it once
        quiet = level.upper() != "DEBUG"
        logging.basicConfig(
            level=logging.WARNING if quiet else logging.DEBUG,
            format="streamproc: %(levelname)s: %(name)s: %(message)s",
        )
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL if quiet else logging.DEBUG)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - every failure ends as one line
        if level.upper() == "DEBUG":
            traceback.print_exc()
        # a wrong file, setting or value: 2, as for a wrong flag; anything else: 1
        return fail(describe_error(exc), 2 if isinstance(exc, ValueError | OSError) else 1)


if __name__ == "__main__":
    sys.exit(main())
