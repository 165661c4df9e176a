"""Worker configuration: defaults < TOML file < ``STREAMPROC_*`` environment < flags.

The TOML file has three optional tables::

    [worker]                       # any WorkerConfig field, e.g.
    bootstrap = "kafka:9092"
    metrics_port = 9108

    [detectors]                    # any streamproc.detect.settings.Settings field
    window_events = 500

    [models."fraud-detector"]      # per-model detector overrides
    psi_min = 0.2

>>> cfg = load_config(env={"STREAMPROC_BOOTSTRAP": "k:9092"}, flags={"metrics_port": 9200})
>>> cfg.bootstrap, cfg.metrics_port, cfg.topics.alerts
('k:9092', 9200, 'monitor.alerts')
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamproc.detect.settings import Settings
from streamproc.kafka_security import KafkaSecurity


@dataclass(frozen=True, slots=True)
class Topics:
    """Topic names (the contract's defaults)."""

    events: str = "inference.events"
    labels: str = "inference.labels"
    baselines: str = "monitor.baselines"
    alerts: str = "monitor.alerts"
    dlq: str = "inference.events.dlq"
    state: str = "monitor.state"  # internal: the detectors' checkpoints


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """Everything a worker needs.

    bootstrap: Kafka bootstrap servers, ``host:port[,host:port]``.
    group_id: consumer group of the workers (scale out by starting more).
    metrics_port / metrics_host: where ``/metrics``, ``/health``, ``/ready`` are served.
    partitions: partitions of topics the worker creates when missing.
    max_batch: records taken per poll; poll_ms: longest wait for a poll.
    decoders: child processes that decode batches while the worker judges the
        previous one (default 1 on a machine with 2 or more CPUs, else 0: decode
        in the worker's process).
    max_models / max_features: metric label caps per worker (series beyond
        them are folded into ``__other__`` and counted).
    labels: consume the labels topic and join labels to predictions (needs the
        events and labels topics to have the same number of partitions).
    label_ttl_seconds / max_pending_labels: how long (event time) and how many
        predictions (all models of the worker) wait for their label; early_label_seconds /
        max_early_labels: the same for labels that arrive before their
        prediction (see :mod:`streamproc.labels.join`).
    max_models_judged: models a worker keeps state for (default 10,000); the
        events of further models are counted
        (``streamproc_untracked_events_total``), not judged.
    checkpoint_seconds: how often the changed models' detector state is
        written to the state topic and the offsets it covers committed (0: no
        checkpoints; offsets are then committed after each batch and a
        restarted worker starts its models' windows over).
    security_protocol, ssl_cafile, ssl_certfile, ssl_keyfile, sasl_mechanism,
        sasl_username, sasl_password: how every Kafka client connects
        (:mod:`streamproc.kafka_security`); the password is never in ``repr``.
    """

    bootstrap: str = "localhost:9092"
    group_id: str = "streamproc"
    metrics_host: str = "0.0.0.0"
    metrics_port: int = 9108
    partitions: int = 6
    max_batch: int = 5000
    poll_ms: int = 200
    decoders: int = field(default_factory=lambda: 1 if (os.cpu_count() or 1) >= 2 else 0)
    max_models: int = 100
    max_features: int = 50
    max_models_judged: int = 10_000
    rebalance_timeout_s: float = 10.0
    labels: bool = True
    label_ttl_seconds: float = 86_400.0
    max_pending_labels: int = 1_000_000
    early_label_seconds: float = 300.0
    max_early_labels: int = 100_000
    checkpoint_seconds: float = 10.0
    log_level: str = "INFO"
    security_protocol: str = "PLAINTEXT"
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    sasl_mechanism: str = "PLAIN"
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    topics: Topics = field(default_factory=Topics)
    detectors: Settings = field(default_factory=Settings)
    model_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.decoders < 0:
            raise ValueError(f"decoders must be 0 or more, not {self.decoders}")
        if not self.checkpoint_seconds >= 0:
            raise ValueError(
                f"checkpoint_seconds must be 0 (off) or more, not {self.checkpoint_seconds}"
            )
        security = KafkaSecurity.of(self)  # raises ValueError naming the bad setting
        object.__setattr__(self, "security_protocol", security.security_protocol)
        object.__setattr__(self, "sasl_mechanism", security.sasl_mechanism)

    @property
    def security(self) -> KafkaSecurity:
        """The connection settings (:func:`streamproc.kafka_security.client_options`)."""
        return KafkaSecurity.of(self)


def _flag(text: str) -> bool:
    """An on/off environment value."""
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(text)


_flag.__name__ = "boolean (on/off)"

_ENV: dict[str, tuple[str, Callable[[str], Any]]] = {
    "STREAMPROC_BOOTSTRAP": ("bootstrap", str),
    "STREAMPROC_GROUP_ID": ("group_id", str),
    "STREAMPROC_METRICS_PORT": ("metrics_port", int),
    "STREAMPROC_METRICS_HOST": ("metrics_host", str),
    "STREAMPROC_PARTITIONS": ("partitions", int),
    "STREAMPROC_LOG_LEVEL": ("log_level", str),
    "STREAMPROC_REBALANCE_TIMEOUT_S": ("rebalance_timeout_s", float),
    "STREAMPROC_MAX_MODELS": ("max_models", int),
    "STREAMPROC_MAX_FEATURES": ("max_features", int),
    "STREAMPROC_MAX_MODELS_JUDGED": ("max_models_judged", int),
    "STREAMPROC_DECODERS": ("decoders", int),
    "STREAMPROC_LABELS": ("labels", _flag),
    "STREAMPROC_LABEL_TTL_SECONDS": ("label_ttl_seconds", float),
    "STREAMPROC_MAX_PENDING_LABELS": ("max_pending_labels", int),
    "STREAMPROC_EARLY_LABEL_SECONDS": ("early_label_seconds", float),
    "STREAMPROC_MAX_EARLY_LABELS": ("max_early_labels", int),
    "STREAMPROC_CHECKPOINT_SECONDS": ("checkpoint_seconds", float),
    "STREAMPROC_SECURITY_PROTOCOL": ("security_protocol", str),
    "STREAMPROC_SSL_CAFILE": ("ssl_cafile", str),
    "STREAMPROC_SSL_CERTFILE": ("ssl_certfile", str),
    "STREAMPROC_SSL_KEYFILE": ("ssl_keyfile", str),
    "STREAMPROC_SASL_MECHANISM": ("sasl_mechanism", str),
    "STREAMPROC_SASL_USERNAME": ("sasl_username", str),
    "STREAMPROC_SASL_PASSWORD": ("sasl_password", str),
}
_TOPIC_ENV = {f"STREAMPROC_TOPIC_{f.name.upper()}": f.name for f in dataclasses.fields(Topics)}


def load_config(
    path: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> WorkerConfig:
    """Build a :class:`WorkerConfig`; raises ``ValueError`` with the bad key."""
    env = os.environ if env is None else env
    path = path or env.get("STREAMPROC_CONFIG")
    data: dict[str, Any] = {}
    if path:
        try:
            data = tomllib.loads(Path(path).read_text())
        except OSError as exc:
            raise ValueError(f"config file {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"config file {path}: {exc}") from None
    worker: dict[str, Any] = dict(data.get("worker", {}))
    topics: dict[str, Any] = dict(worker.pop("topics", {}))
    for var, (name, kind) in _ENV.items():
        if var in env:
            try:
                worker[name] = kind(env[var])
            except ValueError:
                raise ValueError(
                    f"{var}: not a valid {getattr(kind, '__name__', 'value')}: {env[var]!r}"
                ) from None
    topics.update({name: env[var] for var, name in _TOPIC_ENV.items() if var in env})
    worker.update({k: v for k, v in (flags or {}).items() if v is not None})
    names = {f.name for f in dataclasses.fields(WorkerConfig)} - {"topics", "detectors"}
    unknown = sorted(set(worker) - names)
    if unknown:
        raise ValueError(f"unknown [worker] setting(s): {', '.join(unknown)}")
    try:
        detectors = Settings().replace(**data.get("detectors", {}))
        overrides = {str(m): dict(v) for m, v in data.get("models", {}).items()}
        for model_id, changes in overrides.items():
            try:
                detectors.replace(**changes)  # validate now, not at the first event
            except (TypeError, ValueError) as exc:
                raise ValueError(f"[models.{model_id!r}]: {exc}") from None
        return WorkerConfig(
            **worker, topics=Topics(**topics), detectors=detectors, model_overrides=overrides
        )
    except TypeError as exc:
        raise ValueError(str(exc)) from None
