"""Commands that work on files: ``baseline fit`` (which may publish the result) and ``replay``."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from streamproc.commands import fail, load_config


def cmd_baseline_fit(args: argparse.Namespace) -> int:
    from streamproc.detect.baseline import Baseline
    from streamproc.events.columns import EventColumns
    from streamproc.events.validate import validate_event
    from streamproc.files import pop_target, read_labels

    if getattr(args, "labels", None) and getattr(args, "target", None):
        return fail("--labels and --target: give one of them")
    try:
        config = load_config(args, bootstrap=args.bootstrap)
        events = _reference_events(args.input, args.model)
        truth = None
        if getattr(args, "target", None):
            truth = pop_target(events, args.target)
        elif getattr(args, "labels", None):
            by_id = read_labels(args.labels, model_id=args.model)
            truth = [by_id.get(e.get("event_id")) for e in events]  # type: ignore[arg-type]
    except (OSError, ValueError) as exc:
        return fail(str(exc))
    problems = [(i, p) for i, e in enumerate(events) if (p := validate_event(e)) is not None]
    for index, problem in problems[:10]:
        print(f"skipped reference row {index + 1}: {problem.detail}", file=sys.stderr)
    bad = {i for i, _ in problems}
    valid = [e for i, e in enumerate(events) if i not in bad]
    if truth is not None:
        truth = [t for i, t in enumerate(truth) if i not in bad]
        if all(t is None for t in truth):
            return fail(f"{args.labels or args.input}: no reference row has a label")
    if not valid:
        return fail(f"{args.input}: no valid reference rows")
    s = config.detectors.for_model(args.model, config.model_overrides)
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
    payload = orjson.dumps(baseline.to_dict(), option=orjson.OPT_INDENT_2)
    if args.output:
        Path(args.output).write_bytes(payload + b"\n")
        print(
            f"baseline of {args.model}: {len(baseline.features)} features from "
            f"{baseline.events} events{_performance_note(baseline)} -> {args.output}",
            file=sys.stderr,
        )
    if args.publish:
        from streamproc.kafka_io import send_one

        asyncio.run(send_one(config.bootstrap, config.topics.baselines, args.model, payload))
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


def _reference_events(path: str, model_id: str) -> list[dict[str, Any]]:
    from streamproc.files import read_reference

    return read_reference(path, model_id=model_id)


def cmd_replay(args: argparse.Namespace) -> int:
    from streamproc.decode.nogc import no_gc
    from streamproc.detect.baseline import Baseline
    from streamproc.detect.monitor import Monitor
    from streamproc.files import decoded_line_batches

    try:
        config = load_config(args)
        baselines = [Baseline.from_dict(orjson.loads(Path(p).read_bytes())) for p in args.baseline]
    except (OSError, ValueError) as exc:
        return fail(str(exc))
    monitor = Monitor(config.detectors, overrides=config.model_overrides, baselines=baselines)
    out = sys.stdout.buffer
    counts: Counter[str] = Counter()
    started = time.perf_counter()
    try:
        for numbers, decoded in decoded_line_batches(args.input, event_ids=False):
            with no_gc():
                alerts = monitor.process(decoded.columns, now=time.time())
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
        return fail(str(exc))
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
