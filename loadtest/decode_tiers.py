"""Does the orjson tier's bulk check earn its place next to msgspec?

Times :func:`streamproc.decode.batch.decode_chunks` (what ``decode_batch``
runs) with the orjson tier's bulk checks on and off (off: what the msgspec
tiers refuse is validated event by event, the same result) on several inputs,
and prints microseconds per event side by side.

    PYTHONPATH=. python loadtest/decode_tiers.py [--events 20000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import copy
import gc
import time
from collections.abc import Callable
from typing import Any

import orjson

from streamproc.decode.batch import decode_chunks
from streamproc.simulate import wide_events


def _singles(events: list[dict[str, Any]]) -> list[bytes | None]:
    return [orjson.dumps(e) for e in events]


def _mutated(change: Callable[[int, dict[str, Any]], None], n: int) -> list[bytes | None]:
    events = copy.deepcopy(wide_events(events=n, models=10))
    for i, e in enumerate(events):
        change(i, e)
    return _singles(events)


def inputs(n: int) -> dict[str, list[bytes | None]]:
    clean = wide_events(events=n, models=10)

    def malformed(values: list[bytes | None]) -> list[bytes | None]:
        return [v[:-3] if i % 100 == 50 else v for i, v in enumerate(values)]  # type: ignore[index]

    def rfc3339(i: int, e: dict[str, Any]) -> None:
        e["timestamp"] = f"2026-11-22T00:00:{i % 60:02d}.{i % 1_000_000:06d}Z"

    def ints(i: int, e: dict[str, Any]) -> None:
        e["features"]["n03"] = i % 1000  # an integer where floats are usual

    def unknown(i: int, e: dict[str, Any]) -> None:
        e["tags"] = ["a", "b"]  # a field the contract does not know (allowed)

    return {
        "(a) clean single-event records": _singles(clean),
        "(b) 100-event array records": [orjson.dumps(clean[i : i + 100]) for i in range(0, n, 100)],
        "(c) 1 % malformed records": malformed(_singles(clean)),
        "(d) RFC 3339 string timestamps": _mutated(rfc3339, n),
        "(e) integers in a float feature": _mutated(ints, n),
        "(f) an unknown extra field": _mutated(unknown, n),
    }


def per_event(values: list[bytes | None], bulk: bool, repeat: int) -> float:
    stamps = [0.0] * len(values)
    events = decode_chunks(values, stamps, bulk=bulk).events  # warm (schema decoders)
    best = float("inf")
    for _ in range(repeat):
        gc.disable()
        started = time.perf_counter()
        decode_chunks(values, stamps, bulk=bulk)
        best = min(best, time.perf_counter() - started)
        gc.enable()
    return best / max(events, 1) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(
        f"{'input':36} {'with orjson tier':>17} {'without':>9}  (us/event, best of {args.repeat})"
    )
    for name, values in inputs(args.events).items():
        on = per_event(values, True, args.repeat)
        off = per_event(values, False, args.repeat)
        print(f"{name:36} {on:17.2f} {off:9.2f}")


if __name__ == "__main__":
    main()
