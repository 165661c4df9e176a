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

Every mistake is one ``ValueError`` naming where it is (file and table,
environment variable) and the key, and what was expected; unknown tables and
keys are mistakes too:

>>> load_config(env={"STREAMPROC_PARTITIONS": "0"})
Traceback (most recent call last):
ValueError: STREAMPROC_PARTITIONS: partitions: must be at least 1, got 0
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamproc.detect.fields import check_fields, describe
from streamproc.detect.settings import Settings
from streamproc.kafka_names import check_bootstrap, check_topic
from streamproc.kafka_security import KafkaSecurity

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

_WORKER_MINIMUM = {
    "metrics_port": 1,
    "partitions": 1,
    "max_batch": 1,
    "poll_ms": 1,
    "decoders": 0,
    "max_models": 1,
    "max_feature_series": 1,
    "max_models_judged": 1,
    "rebalance_timeout_s": 0.1,
    "label_ttl_seconds": 0,
    "max_pending_labels": 1,
    "early_label_seconds": 0,
    "max_early_labels": 1,
    "checkpoint_seconds": 0,
}


@dataclass(frozen=True, slots=True)
class Topics:
    """Topic names (the contract's defaults)."""

    events: str = "inference.events"
    labels: str = "inference.labels"
    baselines: str = "monitor.baselines"
    alerts: str = "monitor.alerts"
    dlq: str = "inference.events.dlq"
    state: str = "monitor.state"  # internal: the detectors' checkpoints

    def __post_init__(self) -> None:
        check_fields(self)
        for f in dataclasses.fields(self):
            problem = check_topic(getattr(self, f.name))
            if problem is not None:
                raise ValueError(f"{f.name}: {problem}")


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """Everything a worker needs.

    bootstrap: Kafka bootstrap servers, ``host:port[,host:port]``.
    group_id: consumer group of the workers (scale out by starting more).
    metrics_port / metrics_host: where ``/metrics``, ``/health``, ``/ready`` are served.
    partitions: partitions of topics the worker creates when missing.
    max_batch: records of events a batch takes (a poll's label records go
        with its last batch); poll_ms: longest wait for a poll.
    decoders: child processes that decode batches while the worker judges the
        previous one (default 1 on a machine with 2 or more CPUs, else 0: decode
        in the worker's process).
    max_models / max_feature_series: metric label caps per worker: models, and
        features per model, that get their own series (further ones are folded
        into ``__other__`` and counted). ``max_feature_series`` was
        ``max_features`` (still accepted, with a deprecation warning).
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
    max_feature_series: int = 50
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
        check_fields(self, minimum=_WORKER_MINIMUM, maximum={"metrics_port": 65535})
        problem = check_bootstrap(self.bootstrap)
        if problem is not None:
            raise ValueError(f"bootstrap: {problem}")
        if not self.group_id.strip():
            raise ValueError(f"group_id: expected a consumer group name, got {self.group_id!r}")
        level = self.log_level.upper()
        if level not in LOG_LEVELS:
            raise ValueError(
                f"log_level: expected one of {', '.join(LOG_LEVELS)}, got {self.log_level!r}"
            )
        object.__setattr__(self, "log_level", level)
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
    "STREAMPROC_MAX_FEATURE_SERIES": ("max_feature_series", int),
    "STREAMPROC_MAX_FEATURES": ("max_feature_series", int),  # deprecated
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
# read elsewhere: the config file's path, and the decoders' cap of feature columns
_OTHER_ENV = ("STREAMPROC_CONFIG", "STREAMPROC_MAX_BATCH_FEATURES")


def unknown_environment(env: Mapping[str, str]) -> list[str]:
    """One line for each ``STREAMPROC_*`` variable that no setting reads (a typo
    would otherwise go unnoticed), with the nearest known name.

    >>> unknown_environment({"STREAMPROC_GROUPID": "g", "STREAMPROC_GROUP_ID": "g"})
    ['STREAMPROC_GROUPID is not a streamproc setting (ignored); did you mean STREAMPROC_GROUP_ID?']
    """
    import difflib

    known = [*_ENV, *_TOPIC_ENV, *_OTHER_ENV]
    lines = []
    for var in sorted(v for v in env if v.startswith("STREAMPROC_") and v not in known):
        near = difflib.get_close_matches(var, known, n=1)
        hint = f"; did you mean {near[0]}?" if near else ""
        lines.append(f"{var} is not a streamproc setting (ignored){hint}")
    return lines


SECTIONS = ("worker", "detectors", "models")
# old name -> new name, per table; the old names are accepted with a warning
DEPRECATED = {
    "worker": {"max_features": "max_feature_series"},
    "detectors": {"max_features": "max_tracked_features"},
}
_DEPRECATED_ENV = {"STREAMPROC_MAX_FEATURES": "STREAMPROC_MAX_FEATURE_SERIES"}


def _warn_stderr(message: str) -> None:
    print(f"streamproc: warning: {message}", file=sys.stderr)


def _table(where: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{where}: expected a table, got {describe(value)}")
    return dict(value)


def _check_keys(where: str, values: Mapping[str, Any], known: Iterable[str]) -> None:
    known = list(known)  # read twice (a generator was empty in the message: "known: )")
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(
            f"{where}: unknown setting(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )


def _renamed(
    where: str, section: str, values: dict[str, Any], warn: Callable[[str], None]
) -> dict[str, Any]:
    for old, new in DEPRECATED.get(section, {}).items():
        if old in values:
            if new in values:  # one line: the error, without the warning
                raise ValueError(f"{where}: give {new} or its old name {old}, not both")
            warn(f"{where}: {old} is deprecated, use {new}")
            values[new] = values.pop(old)
    return values


def _settings(where: str, base: Settings, changes: dict[str, Any]) -> Settings:
    _check_keys(where, changes, (f.name for f in dataclasses.fields(Settings)))
    try:
        return base.replace(**changes)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where} {exc}") from None


def load_config(
    path: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
    warn: Callable[[str], None] = _warn_stderr,
) -> WorkerConfig:
    """Build a :class:`WorkerConfig`; raises ``ValueError`` naming the bad key.

    Deprecated names are accepted and reported through ``warn`` (one line each).
    """
    env = os.environ if env is None else env
    for line in unknown_environment(env):
        warn(line)
    path = path or env.get("STREAMPROC_CONFIG")
    data: dict[str, Any] = {}
    source = ""
    if path:
        source = f"config file {path}: "
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ValueError(f"config file {path}: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise ValueError(f"config file {path}: not UTF-8 text ({exc.reason})") from None
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"config file {path}: {exc}") from None
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise ValueError(
            f"{source}unknown table(s) {', '.join(f'[{u}]' for u in unknown)} "
            f'(known: [worker], [worker.topics], [detectors], [models."ID"])'
        )
    worker = _renamed(
        f"{source}[worker]", "worker", _table(f"{source}[worker]", data.get("worker", {})), warn
    )
    topics = _table(f"{source}[worker.topics]", worker.pop("topics", {}))
    topic_names = [f.name for f in dataclasses.fields(Topics)]
    _check_keys(f"{source}[worker.topics]", topics, topic_names)
    names = [f.name for f in dataclasses.fields(WorkerConfig) if f.name not in _NOT_KEYS]
    _check_keys(f"{source}[worker]", worker, names)
    where = {name: f"{source}[worker]" for name in worker}
    for var, (name, kind) in _ENV.items():
        if var in env:
            if var in _DEPRECATED_ENV:
                warn(f"{var} is deprecated, use {_DEPRECATED_ENV[var]}")
                if _DEPRECATED_ENV[var] in env:
                    continue
            try:
                worker[name] = kind(env[var])
            except ValueError:
                raise ValueError(
                    f"{var}: not a valid {getattr(kind, '__name__', 'value')}: {env[var]!r}"
                ) from None
            where[name] = var
    topic_where = {name: f"{source}[worker.topics] " for name in topics}
    for var, name in _TOPIC_ENV.items():
        if var in env:
            topics[name] = env[var]
            topic_where[name] = f"{var}: "
    for name, value in (flags or {}).items():
        if value is not None:
            worker[name] = value
            where[name] = f"--{name.replace('_', '-')}"
    try:
        topics_config = Topics(**topics)
    except ValueError as exc:
        topic_origin = topic_where.get(str(exc).split(":", 1)[0], f"{source}[worker.topics] ")
        raise ValueError(f"{topic_origin}{exc}") from None
    detectors = _settings(
        f"{source}[detectors]",
        Settings(),
        _renamed(
            f"{source}[detectors]",
            "detectors",
            _table(f"{source}[detectors]", data.get("detectors", {})),
            warn,
        ),
    )
    overrides: dict[str, dict[str, Any]] = {}
    for model_id, changes in _table(f"{source}[models]", data.get("models", {})).items():
        at = f"{source}[models.{str(model_id)!r}]"
        overrides[str(model_id)] = _renamed(at, "detectors", _table(at, changes), warn)
        _settings(at, detectors, overrides[str(model_id)])  # validate now, not at the first event
    try:
        return WorkerConfig(
            **worker, topics=topics_config, detectors=detectors, model_overrides=overrides
        )
    except ValueError as exc:
        message = str(exc)
        # the setting a message starts with ("ssl_cafile: ...", "ssl_cafile is set but ...")
        origin = where.get(re.split(r"[:\s/]", message, maxsplit=1)[0])
        if origin is None or origin.startswith("STREAMPROC_") or origin.startswith("--"):
            raise ValueError(f"{origin}: {message}" if origin else message) from None
        raise ValueError(f"{origin} {message}") from None


_NOT_KEYS = ("topics", "detectors", "model_overrides")
