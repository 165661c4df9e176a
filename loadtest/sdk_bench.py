"""The producer SDK's cost to a model server, and its sustained throughput.

    python loadtest/sdk_bench.py [--paced 100000] [--rate 20000] [--burst 200000]

Against the embedded broker (started here; ``--bootstrap`` for another one).
Events have 20 features (16 numbers, 4 strings: the load tests' wide
workload), a prediction ``{"label", "score"}`` and a latency.

1. Caller's cost: ``--paced`` calls of ``Reporter.record`` at ``--rate`` a
   second (a server's steady traffic; the sender thread works between the
   calls), each timed on the caller's thread with ``time.perf_counter_ns``
   (the timer's own cost, measured on empty pairs, is printed and not
   subtracted). p50, p99, p99.9, max.
2. Throughput: ``--burst`` calls as fast as one thread makes them
   (``when_full="block"``: none dropped), then ``flush``; events per second
   from the first call to the end of the flush (all acknowledged by the
   broker). The per-call cost of that loop is printed too: there the caller
   competes with the sender thread for the GIL.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streamproc.broker import EmbeddedBroker  # noqa: E402
from streamproc.client import Reporter  # noqa: E402


def requests(n: int, seed: int = 0) -> list[tuple[dict, dict, float]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        features: dict = {f"n{i:02d}": rng.gauss(0.0, 1.0) for i in range(16)}
        features.update({f"c{i:02d}": rng.choice(("a", "b", "c", "d")) for i in range(4)})
        score = rng.random()
        out.append((features, {"label": "yes" if score > 0.5 else "no", "score": score}, 5.0))
    return out


def percentiles(costs: list[int]) -> str:
    costs = sorted(costs)

    def at(q: float) -> float:
        return costs[min(len(costs) - 1, int(q * len(costs)))] / 1000

    return (
        f"p50 {at(0.50):.2f} us, p99 {at(0.99):.2f} us, p99.9 {at(0.999):.1f} us, "
        f"max {costs[-1] / 1000:.0f} us"
    )


def timer_cost() -> str:
    now = time.perf_counter_ns
    costs = []
    for _ in range(100_000):
        start = now()
        costs.append(now() - start)
    return percentiles(costs)


def paced(bootstrap: str, n: int, rate: float, pool: list) -> None:
    reporter = Reporter(bootstrap, model_id="sdk-bench", events_topic="sdk.bench.paced",
                        flush_at_exit=False)  # fmt: skip
    now = time.perf_counter_ns
    costs = []
    record = reporter.record
    started = time.monotonic()
    for i in range(n):
        features, prediction, latency = pool[i % len(pool)]
        start = now()
        record(features, prediction=prediction, latency_ms=latency)
        costs.append(now() - start)
        if i % 100 == 99:
            ahead = (i + 1) / rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
    reporter.close(30)
    stats = reporter.stats()
    print(f"record() at {rate:.0f}/s, {n} calls: {percentiles(costs)}")
    print(f"  sent {stats['sent']}, dropped {stats['dropped']}, invalid {stats['invalid']}")


def burst(bootstrap: str, n: int, pool: list) -> None:
    reporter = Reporter(bootstrap, model_id="sdk-bench", events_topic="sdk.bench.burst",
                        when_full="block", flush_at_exit=False)  # fmt: skip
    now = time.perf_counter_ns
    costs = []
    record = reporter.record
    started = time.perf_counter()
    for i in range(n):
        features, prediction, latency = pool[i % len(pool)]
        start = now()
        record(features, prediction=prediction, latency_ms=latency)
        costs.append(now() - start)
    called = time.perf_counter() - started
    flushed = reporter.flush(120)
    elapsed = time.perf_counter() - started
    stats = reporter.stats()
    reporter.close(10)
    print(
        f"throughput: {n} events in {elapsed:.2f} s (calls {called:.2f} s, flush included): "
        f"{stats['sent'] / elapsed:,.0f} events/s delivered; flushed {flushed}, "
        f"sent {stats['sent']}, dropped {stats['dropped']}"
    )
    print(f"  record() in that loop (waits for room included): {percentiles(costs)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paced", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=20_000)
    parser.add_argument("--burst", type=int, default=200_000)
    parser.add_argument("--bootstrap", default=None)
    args = parser.parse_args()
    pool = requests(1_000)
    print(f"timer pairs alone: {timer_cost()}")
    broker = None
    if args.bootstrap is None:
        broker = EmbeddedBroker().start()
    bootstrap = args.bootstrap or broker.bootstrap
    try:
        paced(bootstrap, args.paced, args.rate, pool)
        burst(bootstrap, args.burst, pool)
    finally:
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    main()
