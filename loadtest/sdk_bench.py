"""The producer SDK's cost to a model server, and its sustained throughput.

    python loadtest/sdk_bench.py [--paced 100000] [--rate 20000] [--burst 200000]
                                 [--handlers 4]

Against the embedded broker (started here; ``--bootstrap`` for another one).
Events have 20 features (16 numbers, 4 strings: the load tests' wide
workload), a prediction ``{"label", "score"}`` and a latency.

1. Caller's cost: ``--paced`` calls of ``Reporter.record`` at ``--rate`` a
   second (a server's steady traffic; the sender thread works between the
   calls), each timed on the caller's thread with ``time.perf_counter_ns``
   (the timer's own cost, measured on empty pairs, is printed and not
   subtracted). p50, p99, p99.9, max. Three pacings:

   a. *bursts of 100* (the original figure): 100 calls back to back, then a
      sleep until the schedule (about 4.6 ms at 20,000/s). The first call
      after a sleep (at most 1 % of the calls, so the p99) runs with cold
      caches; those calls are printed apart, and so is the same pacing
      timing a no-op function (what the pacing alone costs).
      How late the sleeps end is printed too: past the OS's timer slack,
      that is the caller waiting for the GIL the sender thread holds (up to
      ``sys.getswitchinterval()``, 5 ms), a delay a server's request sees
      although it is not inside ``record``.
   b. *handler threads* (a threaded model server): ``--handlers`` threads
      block on a queue (releasing the GIL, as a server does on its socket);
      requests arrive at ``--rate`` a second in 1 ms ticks; each handler
      parses the request's JSON body (``orjson.loads``), then calls
      ``record`` with the features it parsed. The same with a no-op
      function is printed too.
2. Throughput: ``--burst`` calls as fast as one thread makes them
   (``when_full="block"``: none dropped), then ``flush``; events per second
   from the first call to the end of the flush (all acknowledged by the
   broker). The per-call cost of that loop is printed too: there the caller
   competes with the sender thread for the GIL.
"""

from __future__ import annotations

import argparse
import queue
import random
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson  # noqa: E402

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


def paced_calls(call, n: int, rate: float, pool: list) -> tuple[list[int], list[int], list[int]]:
    """Time ``n`` calls made in bursts of 100 at ``rate`` a second. Returns the
    costs, the indexes of the calls made right after a sleep (a burst behind
    schedule does not sleep), and how late each sleep ended (the OS's timer
    slack, plus the wait for the GIL when another thread holds it)."""
    now = time.perf_counter_ns
    costs, after_sleep, late = [], [], []
    started = time.monotonic()
    for i in range(n):
        features, prediction, latency = pool[i % len(pool)]
        start = now()
        call(features, prediction=prediction, latency_ms=latency)
        costs.append(now() - start)
        if i % 100 == 99:
            ahead = (i + 1) / rate - (time.monotonic() - started)
            if ahead > 0:
                before = now()
                time.sleep(ahead)
                late.append(now() - before - int(ahead * 1e9))
                after_sleep.append(i + 1)
    return costs, after_sleep[:-1] if after_sleep and after_sleep[-1] >= n else after_sleep, late


def _split(costs: list[int], chosen: list[int]) -> tuple[list[int], list[int]]:
    picked = set(chosen)
    return [costs[i] for i in chosen], [c for i, c in enumerate(costs) if i not in picked]


def _no_op(features: dict, prediction: object = None, latency_ms: object = None) -> None:
    return None


def paced(bootstrap: str, n: int, rate: float, pool: list) -> None:
    reporter = Reporter(bootstrap, model_id="sdk-bench", events_topic="sdk.bench.paced",
                        flush_at_exit=False)  # fmt: skip
    costs, after_sleep, late = paced_calls(reporter.record, n, rate, pool)
    reporter.close(30)
    stats = reporter.stats()
    print(f"record() at {rate:.0f}/s in bursts of 100, {n} calls: {percentiles(costs)}")
    first, rest = _split(costs, after_sleep)
    print(f"  the {len(first)} calls right after a sleep: {percentiles(first)}")
    print(f"  the other {len(rest)}: {percentiles(rest)}")
    print(f"  sent {stats['sent']}, dropped {stats['dropped']}, invalid {stats['invalid']}")
    print(f"  sleeps between bursts ended late by: {percentiles(late)}")
    floor, floor_after, floor_late = paced_calls(_no_op, min(n, 20_000), rate, pool)
    print(f"  a no-op function, same pacing: {percentiles(floor)}; "
          f"right after a sleep: {percentiles(_split(floor, floor_after)[0])}")  # fmt: skip
    print(f"    its sleeps (no sender thread) ended late by: {percentiles(floor_late)}")


def served_calls(call, n: int, rate: float, pool: list, handlers: int) -> list[int]:
    """Time ``n`` calls made by ``handlers`` threads, each after it parsed its request."""
    bodies = [
        orjson.dumps({"features": f, "prediction": p, "latency_ms": latency})
        for f, p, latency in pool
    ]
    inbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
    buckets: list[list[int]] = [[] for _ in range(handlers)]

    def handle(costs: list[int]) -> None:
        now, loads = time.perf_counter_ns, orjson.loads
        while (body := inbox.get()) is not None:
            request = loads(body)
            start = now()
            call(request["features"], request["prediction"], request["latency_ms"])
            costs.append(now() - start)

    threads = [threading.Thread(target=handle, args=(b,), daemon=True) for b in buckets]
    for thread in threads:
        thread.start()
    per_tick = max(1, round(rate / 1000))
    started = time.monotonic()
    for i in range(n):
        inbox.put(bodies[i % len(bodies)])
        if i % per_tick == per_tick - 1:
            ahead = (i + 1) / rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
    for _ in threads:
        inbox.put(None)
    for thread in threads:
        thread.join()
    return [cost for bucket in buckets for cost in bucket]


def served(bootstrap: str, n: int, rate: float, pool: list, handlers: int) -> None:
    """``record`` called by handler threads, as in a threaded model server."""
    reporter = Reporter(bootstrap, model_id="sdk-bench", events_topic="sdk.bench.served",
                        flush_at_exit=False)  # fmt: skip
    costs = served_calls(reporter.record, n, rate, pool, handlers)
    reporter.close(30)
    stats = reporter.stats()
    print(f"record() from {handlers} handler threads, {rate:.0f} requests/s in 1 ms ticks, "
          f"{n} calls: {percentiles(costs)}")  # fmt: skip
    print(f"  sent {stats['sent']}, dropped {stats['dropped']}, invalid {stats['invalid']}")
    floor = served_calls(_no_op, min(n, 20_000), rate, pool, handlers)
    print(f"  a no-op function, same handlers: {percentiles(floor)}")


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
    parser.add_argument("--handlers", type=int, default=4)
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
        served(bootstrap, args.paced, args.rate, pool, args.handlers)
        burst(bootstrap, args.burst, pool)
    finally:
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    main()
