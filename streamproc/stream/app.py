"""The Faust application of a worker: lifecycle, web endpoints, batch ingestion.

Faust runs the worker (signals, logging, the aiohttp web server) and starts
:class:`~streamproc.stream.ingest.IngestService`, which does the consuming in
batches. Endpoints on ``metrics_port``:

- ``/metrics``: Prometheus exposition of every contract metric;
- ``/health``: 200 while the worker process is alive (the web server answers);
- ``/ready``: 200 while partitions are assigned, the baselines and alerts topics
  are read to their end and the brokers answer (stream/health.py); else 503
  with a JSON body whose ``not_ready`` lists why;
- ``/status``: what the worker monitors (stream/status.py; ``streamproc status``).
"""

from __future__ import annotations

import logging
import os
import tempfile

import faust
from faust.app.base import BootStrategy
from faust.web import Request, Response, View

from streamproc.config import WorkerConfig
from streamproc.kafka_security import faust_credentials
from streamproc.stream.ingest import IngestService
from streamproc.stream.status import service_status
from streamproc.stream.stopping import Worker

CONTENT_TYPE_LATEST = "text/plain; version=0.0.4"  # aiohttp adds the charset itself


def create_app(config: WorkerConfig) -> tuple[faust.App, IngestService]:
    """The Faust app and its ingest service, wired to ``config``."""
    app = faust.App(
        # Faust's own consumer group: one per streamproc group, so that workers
        # of other groups (other deployments, tests) never rebalance with ours.
        f"streamproc-{config.group_id}",
        broker=",".join(f"kafka://{b}" for b in config.bootstrap.split(",")),
        web_host=config.metrics_host,
        web_port=config.metrics_port,
        web_in_thread=False,
        broker_rebalance_timeout=config.rebalance_timeout_s,
        broker_credentials=faust_credentials(config),  # the same TLS/SASL as our own clients
        store="memory://",
        topic_allow_declare=False,
        autodiscover=False,
        # Faust keeps nothing of ours on disk (store="memory://"); keep its
        # data directory out of the working directory (read-only in k8s).
        datadir=os.path.join(tempfile.gettempdir(), "streamproc-faust"),
    )
    # Faust only serves the web endpoints and runs the services: IngestService
    # owns the Kafka clients. Without this Faust starts its own producer and a
    # consumer in a second group, ``streamproc-<group>``, which subscribes to
    # the ``streamproc-<group>-__assignor-__leader`` topic it creates.
    app.boot_strategy = BootStrategy(app, enable_kafka=False, enable_web=True)
    ingest = IngestService(config)

    @app.page("/metrics")
    async def metrics(web: View, request: Request) -> Response:
        return web.bytes(ingest.metrics.exposition(), content_type=CONTENT_TYPE_LATEST)

    @app.page("/health")
    async def health(web: View, request: Request) -> Response:
        return web.json({"status": "ok"})

    @app.page("/ready")
    async def ready(web: View, request: Request) -> Response:
        ingest.readiness.report()  # the log says it before the probe hears it
        body = ingest.readiness.body()
        return web.json(body, status=200 if body["ready"] else 503)

    @app.page("/status")
    async def status(web: View, request: Request) -> Response:
        return web.json(service_status(ingest))

    return app, ingest


# Loggers that speak at INFO in every start-up (service by service, ASCII
# tables of topics and partitions): only their warnings are shown, unless the
# log level is DEBUG.
CHATTY_LOGGERS = ("faust", "mode", "aiokafka")


class _NoTraceback(logging.Filter):
    """Drop the traceback of a record of a chatty logger: a failed start-up is
    already said in one line (its exception's text)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.name.split(".")[0] in CHATTY_LOGGERS:
            record.exc_info = None
            record.exc_text = None
        return True


class QuietWorker(Worker):
    """The worker, with the start-up chatter of Faust, mode and aiokafka off
    (and their tracebacks), unless the log level is DEBUG."""

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        super().on_setup_root_logger(logger, level)
        if level <= logging.DEBUG:
            return
        for name in CHATTY_LOGGERS:
            logging.getLogger(name).setLevel(max(level, logging.WARNING))
        for handler in logger.handlers:
            handler.addFilter(_NoTraceback())


def run_worker(config: WorkerConfig) -> int:
    """Run a worker in the foreground until SIGINT/SIGTERM (then stops within 8 s);
    return its exit code."""
    app, ingest = create_app(config)
    worker = QuietWorker(
        app,
        ingest,
        loglevel=config.log_level,
        redirect_stdouts=False,
        quiet=True,
    )
    worker.execute_from_commandline()
    return 0
