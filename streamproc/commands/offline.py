"""Commands that work on files: ``baseline fit`` (which may publish the result) and ``replay``."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import math
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from streamproc.commands import describe_error, fail, kafka_failure, load_config, quiet_kafka_logs
from streamproc.commands.replay_labels import MAX_REJECTED_SHOWN, ReplayLabels


def cmd_baseline_fit(args: argparse.Namespace) -> int:
    from streamproc.detect.baseline import Baseline
    from streamproc.detect.reference import reference_warnings
    from streamproc.events.columns import EventColumns
    from streamproc.events.validate import validate_event
    from streamproc.files import pop_target, read_labels, read_reference_rows

    if getattr(args, "labels", None) and getattr(args, "target", None):
        return fail("--labels and --target: give one of them")
    try:
        config = load_config(args, bootstrap=args.bootstrap)
        events, lines = read_reference_rows(
            args.input,
            model_id=args.model,
            prediction=getattr(args, "prediction_column", None) or "prediction",
            exclude=getattr(args, "exclude", None) or (),
        )
        truth = None
        if getattr(args, "target", None):
            truth = pop_target(events, args.target)
        elif getattr(args, "labels", None):
            by_id = read_labels(args.labels, model_id=args.model)
            truth = [by_id.get(e.get("event_id")) for e in events]  # type: ignore[arg-type]
    except (OSError, ValueError) as exc:
        return fail(describe_error(exc))
    problems = [(i, p) for i, e in enumerate(events) if (p := validate_event(e)) is not None]
    for index, problem in problems[:10]:
        print(
            f"skipped reference row {index + 1} ({args.input}:{lines[index]}): {problem.detail}",
            file=sys.stderr,
        )
    bad = {i for i, _ in problems}
    valid = [e for i, e in enumerate(events) if i not in bad]
    if truth is not None:
        truth = [t for i, t in enumerate(truth) if i not in bad]
        if all(t is None for t in truth):
            where = f"--labels {args.labels}" if args.labels else f"--target {args.target}"
            return fail(f"{where}: no reference row of {args.input} has a label")
    if not valid:
        return fail(f"{args.input}: no valid reference rows")
    s = config.detectors.for_model(args.model, config.model_overrides)
    valid_lines = [n for i, n in enumerate(lines) if i not in bad]
    for warning in reference_warnings(valid, valid_lines, bins=s.numeric_bins):
        print(f"streamproc: warning: {args.input}: {warning}", file=sys.stderr)
    columns = EventColumns.from_events(args.model, valid, default_timestamp=time.time())
    baseline = Baseline.fit(
        columns,
        bins=s.numeric_bins,
        max_categories=s.max_categories,
        min_share=s.min_category_share,
        model_version=args.model_version,
        window_events=s.window_events,
        labels=truth,
    )
    payload = orjson.dumps(rounded(baseline.to_dict()), option=orjson.OPT_INDENT_2)
    if args.output:
        try:
            Path(args.output).write_bytes(payload + b"\n")
        except OSError as exc:  # named: a failed write (not open) has no file name
            return fail(f"--output {args.output}: {exc.strerror or exc}")
        print(
            f"baseline of {args.model}: {len(baseline.features)} features from "
            f"{baseline.events} events{_performance_note(baseline)} -> {args.output}",
            file=sys.stderr,
        )
    if args.publish:
        from aiokafka.errors import KafkaError

        from streamproc.kafka_io import send_one

        quiet_kafka_logs()
        try:
            asyncio.run(
                send_one(
                    config.bootstrap, config.topics.baselines, args.model, payload, security=config
                )
            )
        except KafkaError as exc:
            return kafka_failure(exc, config)
        print(f"published to {config.topics.baselines} at {config.bootstrap}", file=sys.stderr)
    if not args.output and not args.publish:
        sys.stdout.buffer.write(payload + b"\n")
    return 0


def _performance_note(baseline: Any) -> str:
    p = baseline.performance
    if p is None:
        return ""
    if p.kind == "regression":
        return f", {p.labels} labelled (MAE {p.mae:.4g})"
    return f", {p.labels} labelled (accuracy {p.accuracy:.3f})"


def rounded(value: Any, digits: int = 6, key: str = "") -> Any:
    """``value`` with every float rounded to ``digits`` significant digits,
    except times (keys ending in ``_at``), for a baseline a person can read.

    >>> rounded({"mean": 65.60000000000036, "created_at": 1795983093.2790782, "n": [0.1 + 0.2]})
    {'mean': 65.6, 'created_at': 1795983093.2790782, 'n': [0.3]}
    """
    if isinstance(value, float) and not key.endswith("_at"):
        return float(f"{value:.{digits}g}")
    if isinstance(value, dict):
        return {k: rounded(v, digits, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(v, digits, key) for v in value]
    return value


def _read_baseline(path: str) -> Any:
    """A baseline file; any mistake in it is a ``ValueError`` naming the file."""
    from streamproc.detect.baseline import Baseline

    try:
        data = orjson.loads(Path(path).read_bytes())
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"--baseline {path}: not a baseline JSON file ({exc})") from None
    try:
        return Baseline.from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        detail = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
        raise ValueError(f"--baseline {path}: not a valid baseline ({detail})") from None


def cmd_replay(args: argparse.Namespace) -> int:
    """``streamproc replay``: alerts on stdout in input order (``detected_at`` the
    event time of the window's end, ``details.input_line`` its input line); rejected lines,
    the summary (:mod:`.replay_summary`) and warnings on stderr. Exit 2 (one
    line) when the input is not JSON lines or no event could be read."""
    pool = _spawned_pool(args)
    try:
        return _replay(args, pool)
    finally:
        pool.close()


def _spawned_pool(args: argparse.Namespace) -> Any:
    """The decoder pool of ``replay``/``report``, its children started now: they
    start up while this process loads the detectors and the baselines."""
    from streamproc.decode.pool import DecoderPool
    from streamproc.files import decoder_pool

    try:
        return decoder_pool(args.input, event_ids=bool(args.labels)).spawn()
    except OSError:  # no such file: said by the input checks, with the others
        return DecoderPool(0)


def _replay(args: argparse.Namespace, pool: Any) -> int:
    from streamproc.commands.replay_summary import ReplaySummary
    from streamproc.detect.monitor import Monitor

    try:
        config, baselines, given = _replay_inputs(args)
    except (OSError, ValueError) as exc:
        return fail(describe_error(exc))
    monitor = Monitor(
        config.detectors,
        overrides=config.model_overrides,
        baselines=baselines,
        max_models=config.max_models_judged,
    )
    out = sys.stdout.buffer
    summary = ReplaySummary()
    started = time.perf_counter()
    labels = ReplayLabels(args.labels, config) if args.labels else None
    counts: Counter[str] = Counter()
    try:
        for columns, alerts in replay_batches(args.input, monitor, labels, counts, pool):
            for model in columns:
                summary.count(model.model_id, model.size)
            for alert in alerts:
                summary.add(alert)
                out.write(alert.to_json() + b"\n")
    except OSError as exc:
        return fail(describe_error(exc))
    out.flush()
    elapsed = time.perf_counter() - started
    print(
        f"replayed {counts['events']} events of {len(monitor.models)} model(s) in {elapsed:.2f} s "
        f"({counts['events'] / max(elapsed, 1e-9):,.0f} events/s): "
        f"{counts['firing']} firing, {counts['resolved']} resolved, "
        f"{counts['rejected']} rejected",
        file=sys.stderr,
    )
    origins = {m: _baseline_origin(m, monitor, given) for m in monitor.models}
    firing = {m: list(monitor.models[m].policy.firing) for m in monitor.models}
    for line in summary.lines(origins, firing):
        print(line, file=sys.stderr)
    if labels is not None:
        print(labels.summary(), file=sys.stderr)
    _warn_unused_baselines(args.input, given, monitor)
    if monitor.untracked_events:
        print(
            f"warning: {monitor.untracked_events} events of models past max_models_judged "
            f"({config.max_models_judged}) were counted, not judged",
            file=sys.stderr,
        )
    if counts["events"] == 0:
        return fail(
            f"--input {args.input}: no valid event could be read "
            f"({counts['rejected']} line(s) rejected)"
        )
    return 0


def _replay_inputs(args: argparse.Namespace) -> tuple[Any, list[Any], dict[str, str]]:
    """The configuration, the ``--baseline`` files (and the path each model's
    came from) of ``replay`` and ``report``; ``ValueError`` when ``--input`` is
    not a JSON-lines file of events, or ``--labels`` not one of label events."""
    from streamproc.files import sniff_json_lines

    config = load_config(args)
    given: dict[str, str] = {}
    baselines = []
    for path in args.baseline:
        baseline = _read_baseline(path)
        baselines.append(baseline)
        given[baseline.model_id] = path
    problem = sniff_json_lines(args.input)
    if problem is not None:
        raise ValueError(f"--input {args.input}: {problem}")
    problem = sniff_json_lines(args.labels, kind="label events") if args.labels else None
    if problem is not None:  # else a CSV or empty file was 0 labels matched, and exit 0
        raise ValueError(f"--labels {args.labels}: {problem}")
    return config, baselines, given


def _warn_unused_baselines(source: str, given: dict[str, str], monitor: Any) -> None:
    unused = sorted(set(given) - set(monitor.models))
    if unused:
        seen = ", ".join(repr(m) for m in monitor.models) or "none"
        print(
            f"warning: --baseline for model(s) {', '.join(map(repr, unused))} matches no model "
            f"in {source} (its models: {seen}); a baseline applies to its model_id only",
            file=sys.stderr,
        )


def replay_batches(
    path: str, monitor: Any, labels: ReplayLabels | None, counts: Counter[str], pool: Any = None
) -> Iterator[tuple[list[Any], list[Any]]]:
    """Run the events of a JSON-lines file through ``monitor`` (and the label
    join): per batch its columns (one per model) and the alerts it raised; the
    label join's last alerts come with no columns. ``counts`` gets events,
    rejected, firing and resolved; the first 20 rejections go to stderr, then
    how many more. An alert is detected at its window's end (replay's clock is
    the input's) and carries the input line of that end in ``details``.
    ``streamproc replay`` and ``streamproc report`` both run this; ``pool``: a
    decoder pool from :func:`streamproc.files.decoder_pool` (default: its own)."""
    from streamproc.decode.nogc import no_gc, settle_gc
    from streamproc.files import decoded_lines, event_lines

    def counted(alerts: list[Any]) -> list[Any]:
        # in input order (a batch's alerts come model by model), so that the
        # output does not depend on where the batches end
        alerts = sorted(
            (dataclasses.replace(a, detected_at=a.window_end) for a in alerts),
            key=lambda a: (a.details or {}).get("input_line", math.inf),
        )
        for alert in alerts:
            counts[alert.status] += 1
        return alerts

    # What exists now (detectors, baselines) lives as long as the replay, as in a
    # worker; and the GC waits longer: each collection scans the unpickled batches
    # that are still young (a name flood's hundreds of sparse lists: 18 % of this
    # process's py-spy samples).
    settle_gc()
    for batch in decoded_lines(path, event_ids=labels is not None, pool=pool):
        decoded, numbers = batch.decoded, batch.numbers
        lines_of: dict[str, list[int]] | None = None

        def locate(model_id: str, index: int) -> dict[str, Any]:
            nonlocal lines_of
            if lines_of is None:  # parsed again only for a batch with alerts
                lines_of = event_lines(batch) or {}  # noqa: B023
            lines = lines_of.get(model_id)
            return {"input_line": lines[index]} if lines and index < len(lines) else {}

        with no_gc():
            alerts = monitor.process(decoded.columns, now=time.time(), locate=locate)
            if labels is not None:
                alerts += labels.after(decoded.columns, monitor)
        for index, rejection in decoded.rejections:
            counts["rejected"] += 1
            if counts["rejected"] <= MAX_REJECTED_SHOWN:
                print(f"{path}:{numbers[index]}: rejected: {rejection.detail}", file=sys.stderr)
        counts["events"] += decoded.events
        yield decoded.columns, counted(alerts)
    if labels is not None:
        yield [], counted(labels.finish(monitor))
    if counts["rejected"] > MAX_REJECTED_SHOWN:
        print(f"... {counts['rejected'] - MAX_REJECTED_SHOWN} more rejected", file=sys.stderr)


def _baseline_origin(model_id: str, monitor: Any, given: dict[str, str]) -> str:
    """Where the replay's baseline of ``model_id`` came from, for the summary."""
    model = monitor.models[model_id]
    baseline = model.baseline
    if model_id in given:
        return f"given (--baseline {given[model_id]})"
    if baseline is None:
        need = model.settings.baseline_events
        return f"none (a baseline is learned from the first {need} events)"
    return f"learned from its first {baseline.events} events"


def cmd_report(args: argparse.Namespace) -> int:
    pool = _spawned_pool(args)
    try:
        return _report(args, pool)
    finally:
        pool.close()


def _report(args: argparse.Namespace, pool: Any) -> int:
    from streamproc.detect.monitor import Monitor
    from streamproc.report.collect import ReportCollector
    from streamproc.report.html import render

    try:
        config, baselines, _ = _replay_inputs(args)
    except (OSError, ValueError) as exc:
        return fail(describe_error(exc))
    collector = ReportCollector(source=args.input, given={b.model_id for b in baselines})
    monitor = Monitor(
        config.detectors,
        overrides=config.model_overrides,
        baselines=baselines,
        observer=collector,
        max_models=config.max_models_judged,
    )
    labels = ReplayLabels(args.labels, config) if args.labels else None
    counts: Counter[str] = Counter()
    try:
        for columns, alerts in replay_batches(args.input, monitor, labels, counts, pool):
            collector.batch(columns, alerts)
        data = collector.finish(counts, labels.summary() if labels is not None else None)
        Path(args.output).write_text(render(data), encoding="utf-8")
    except OSError as exc:
        return fail(f"--output {args.output}: {exc.strerror or exc}")
    print(
        f"report of {counts['events']} events, {len(data.models)} model(s), "
        f"{counts['firing']} firing and {counts['resolved']} resolved alerts -> {args.output}",
        file=sys.stderr,
    )
    return 0
