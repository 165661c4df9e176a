"""Check that `streamproc replay` behaves identically in two trees (issue 9).

    .venv/bin/python loadtest/replay_identity.py --old-rev c8ab642 --new-rev HEAD
    .venv/bin/python loadtest/replay_identity.py --old /path/to/old --new /path/to/new

``--old-rev``/``--new-rev`` check out the revisions as temporary git worktrees
of this repository (removed afterwards); ``--old``/``--new`` take existing
checkouts. Each tree runs ``python -m streamproc`` (this interpreter) with
``PYTHONPATH=<tree>``. The seeded inputs (written to a temp dir) are:

- detection-quality benchmark streams (loadtest/streams.py): stationary and
  drifted (mean shift, variance change, gradual, blip, new category, category
  mix, null flood, prediction-score drift), 60,000 events each;
- integration-test traffic (streamproc/simulate.py): drifting demo traffic,
  several models interleaved with mixed schemas, and files with malformed
  records of every rejection kind (bad JSON, blank lines, non-UTF-8 bytes,
  missing/bad model_id, bad features, bad prediction, negative latency, bad and
  RFC 3339 timestamps, arrays with bad elements, integers in float features).

Each input is replayed with a learned baseline and/or with ``--baseline FILE``,
fitted by the *old* tree's ``baseline fit`` from a separate seeded reference
file (the new tree's fit of the same file is compared too, ignoring its
``created_at``). Compared: stdout (alert JSON lines) byte for byte and stderr
(rejection lines and the summary) byte for byte, except two wall-clock values:
the summary's ``in X.XX s (N events/s)`` and each alert's ``detected_at``
(``now=time.time()`` in replay, so it differs between two runs of the same
tree; it is replaced by 0 and nothing else in the alert is touched).

Prints one line per input and a final line; exits 1 if anything differs.
Takes about 3 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "loadtest"))

from revisions import worktrees  # noqa: E402
from streams import DRIFTS, drifted, stationary  # noqa: E402

from streamproc.simulate import Scenario, generate, wide_events  # noqa: E402

BENCH_SIZE, BENCH_CHANGE = 60_000, 30_000
TIMING = re.compile(rb" in \d+\.\d\d s \([\d,]+ events/s\)")
DETECTED_AT = re.compile(rb'"detected_at":[-0-9.eE+]+')
CREATED_AT = re.compile(rb'"created_at":\s*[-0-9.eE+]+')


def dump(path: Path, lines: list) -> Path:
    """Write events (dicts), array records (lists) and raw lines (bytes) to ``path``."""
    with path.open("wb") as f:
        for line in lines:
            f.write(line if isinstance(line, bytes) else json.dumps(line).encode() + b"\n")
    return path


def bench_events(stream, model_id: str = "bench") -> list[dict]:
    cols = stream.columns(0, stream.size, model_id=model_id)
    names = list(cols.features)
    rows = zip(*(cols.features[n] for n in names), strict=True)
    ts, scores, lat = (
        x.tolist() for x in (cols.timestamps, cols.prediction_scores, cols.latency_ms)
    )
    return [
        {"model_id": model_id, "model_version": "v1", "timestamp": t}
        | {
            "features": dict(zip(names, r, strict=True)),
            "prediction": {"score": s},
            "latency_ms": ms,
        }
        for r, t, s, ms in zip(rows, ts, scores, lat, strict=True)
    ]


def sim(scenario: Scenario, n: int, seed: int, **kw) -> list[dict]:
    return [e for b in generate(scenario, events=n, batch=5000, seed=seed, **kw) for e in b]


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat().replace("+00:00", "Z")


# one malformed record of every rejection kind (and blank lines, which are skipped)
BAD = b"""{this is not json

\x20\x20
{"model_id": "m-a", "features": {"amount": 1.0}, "note": "not UTF-8: caf\xe9 \xff"}
null
42
"a string"
{"features": {"amount": 1.0}}
{"model_id": "", "features": {}}
{"model_id": "bad id with spaces", "features": {}}
{"model_id": 17, "features": {}}
{"model_id": "m-a"}
{"model_id": "m-a", "features": [1, 2]}
{"model_id": "m-a", "features": {"amount": [1, 2]}}
{"model_id": "m-a", "features": {"amount": {"v": 1}}}
{"model_id": "m-a", "features": {}, "prediction": [0.1]}
{"model_id": "m-a", "features": {}, "prediction": {"score": "high"}}
{"model_id": "m-a", "features": {}, "prediction": {"label": [1]}}
{"model_id": "m-a", "features": {}, "latency_ms": -3.5}
{"model_id": "m-a", "features": {}, "latency_ms": "fast"}
{"model_id": "m-a", "features": {}, "error": 500}
{"model_id": "m-a", "features": {}, "model_version": 2}
{"model_id": "m-a", "features": {}, "timestamp": "yesterday"}
{"model_id": "m-a", "features": {}, "timestamp": "2026-11-22T10:00:00"}
{"model_id": "m-a", "features": {}, "timestamp": true}
[{"model_id": "m-a", "features": {}}, {"model_id": "m-a"}, 7, {"features": {}}]
[]
\xff\xfe\x00garbage
""".splitlines(keepends=True)


def mixed_traffic(n: int, seed: int) -> list:
    """Three models interleaved, with RFC 3339 timestamps, ints in float
    features, a schema change, array records, and malformed lines mixed in."""
    a = sim(Scenario.demo(model_id="m-a", drift_at=n // 2), n, seed)
    b = sim(Scenario(model_id="m-b", drift_at=n // 3, mean_shift={"age": 1.0}), n, seed + 1)
    c = wide_events(events=n, models=2, seed=seed + 2, drift_at=n // 2)
    rng = np.random.default_rng(seed)
    for i, e in enumerate(a):
        if i % 7 == 0:
            e["timestamp"] = rfc3339(e["timestamp"])
        if i % 5 == 0 and e["features"]["amount"] is not None:
            e["features"]["amount"] = int(e["features"]["amount"])
    for i, e in enumerate(b):
        if i >= n // 2:  # schema change: a feature renamed, one dropped, one retyped
            f = e["features"]
            f["n_items"] = f.pop("num_items")
            del f["device"]
            f["hour"] = str(int(f["hour"]))
    out: list = []
    for i in range(0, n, 10):
        out += a[i : i + 10]
        out.append(b[i : i + 10])  # an array record
        out += c[i : i + 10]
        if rng.random() < 0.02:
            out.append(BAD[rng.integers(len(BAD))])
    return out


def make_inputs(tmp: Path) -> tuple[list[tuple[str, Path, str | None]], list[tuple[str, Path]]]:
    """(name, events file, baseline model or None) and (model, reference file) pairs."""
    inputs, seed = [], 3
    kinds = {d.name: d for d in DRIFTS}
    # (drift, family of the drifting feature, model of the fitted baseline or None)
    # fmt: off
    bench = [
        ("stationary", None, None), ("shift 1 sd", "normal", None),
        ("shift 0.5 sd", "lognormal", "bench"), ("variance x2", "uniform", None),
        ("gradual 1 sd / 10k", "score", "bench"), ("blip 1 sd x 3000", "bimodal", None),
        ("new category 10%", "cat_rare", "bench"), ("category mix", "cat_many", None),
        ("null flood 30%", "poisson", None), ("null flood 30%", "cat_many", "bench"),
        ("score shift 0.5 sd", "prediction", None), ("score shift 0.5 sd", "prediction", "bench"),
    ]
    # fmt: on
    for name, family, baseline in bench:
        seed += 1
        stream = (
            drifted(kinds[name], family=family, change=BENCH_CHANGE, size=BENCH_SIZE, seed=seed)
            if family
            else stationary(BENCH_SIZE, seed)
        )
        path = dump(tmp / f"bench-{seed}.jsonl", bench_events(stream))
        inputs.append((f"bench {name} ({family or 'all'})", path, baseline))
    refs = [("bench", dump(tmp / "ref-bench.jsonl", bench_events(stationary(20_000, 999))))]

    path = dump(tmp / "demo.jsonl", sim(Scenario.demo(drift_at=40_000), 100_000, 200))
    inputs.append(("sim demo drift (amount, country, income nulls)", path, None))
    path = dump(
        tmp / "age.jsonl", sim(Scenario(drift_at=50_000, mean_shift={"age": 0.5}), 100_000, 200)
    )
    inputs += [("sim age +0.5 sd (test_cli)", path, m) for m in (None, "fraud-detector")]
    refs.append(("fraud-detector", dump(tmp / "ref-fraud.jsonl", sim(Scenario(), 20_000, 100))))

    path = dump(tmp / "mixed.jsonl", mixed_traffic(30_000, 7))
    inputs += [("mixed: 4 models, schema change, bad lines", path, m) for m in (None, "m-a")]
    refs.append(("m-a", dump(tmp / "ref-m-a.jsonl", sim(Scenario(model_id="m-a"), 10_000, 5))))
    good = sim(Scenario(model_id="m-a"), 3_000, 6)
    for part in (0, 1):  # every rejection kind, under 20 per file so all texts print
        bad = BAD[part * 14 : (part + 1) * 14] + [good[1000:1010] + [{"model_id": "m-a"}]]
        path = dump(tmp / f"rejections-{part}.jsonl", good[:1000] + bad + good[1010:])
        inputs.append((f"every rejection kind, part {part + 1}", path, None))
    return inputs, refs


def run(tree: Path, *args: str) -> tuple[bytes, bytes]:
    """``python -m streamproc ARGS`` (or ``python -c CODE``) on ``tree``'s code."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    command = [sys.executable, *(() if args[0] == "-c" else ("-m", "streamproc")), *args]
    # cwd=tree: `python -m` puts the working directory first on sys.path
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True)
    if done.returncode != 0:
        sys.exit(f"{tree}: {' '.join(args)} failed:\n{done.stderr.decode()}")
    return done.stdout, done.stderr


def first_difference(old: bytes, new: bytes) -> str | None:
    if old == new:
        return None
    a, b = old.splitlines(), new.splitlines()
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            k = next(k for k in range(len(x) + 1) if x[k : k + 1] != y[k : k + 1])
            start = max(0, k - 60)  # from 60 bytes before the first differing byte
            return f"line {i + 1}: old {x[start : k + 100]!r} / new {y[start : k + 100]!r}"
    return f"old has {len(a)} lines, new {len(b)}"


def compare(old: Path, new: Path, tmp: Path) -> bool:
    started = time.perf_counter()
    inputs, refs = make_inputs(tmp)
    print(f"inputs written in {time.perf_counter() - started:.0f} s", flush=True)
    same, baselines = True, {}
    for model, ref in refs:  # fit with both trees; replay with the old tree's fit
        fitted = [tmp / f"baseline-{model}-old.json", tmp / f"baseline-{model}-new.json"]
        for tree, out in zip((old, new), fitted, strict=True):
            run(
                tree, "baseline", "fit", "--model", model, "--input", f"{ref}", "--output", f"{out}"
            )
        baselines[model] = fitted[0]
        diff = first_difference(*(CREATED_AT.sub(b"", f.read_bytes()) for f in fitted))
        same &= diff is None
        print(f"baseline fit {model}: {'identical' if diff is None else 'DIFFERENT ' + diff}")
    for name, path, model in inputs:
        args = ["replay", "--input", str(path)]
        args += ["--baseline", str(baselines[model])] if model else []
        (o_out, o_err), (n_out, n_err) = run(old, *args), run(new, *args)
        o_out, n_out = (DETECTED_AT.sub(b'"detected_at":0', x) for x in (o_out, n_out))
        o_err, n_err = (TIMING.sub(b"", x) for x in (o_err, n_err))
        diff = first_difference(o_out, n_out) or first_difference(o_err, n_err)
        summary = re.search(rb"replayed (\d+) events.*?(\d+) rejected", o_err)
        events, rejected = (int(x) for x in summary.groups()) if summary else ("?", "?")
        name += f" +baseline {model}" if model else ""
        alerts = len(o_out.splitlines())
        result = "identical" if diff is None else f"DIFFERENT {diff}"
        print(f"{name}: {events} events, {alerts} alerts, {rejected} rejections: {result}")
        same &= diff is None
    print(
        f"{'IDENTICAL' if same else 'DIFFERENT'}: {len(inputs)} replays and {len(refs)} "
        f"baseline fits compared in {time.perf_counter() - started:.0f} s"
    )
    return same


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--old", type=Path, help="checkout of the old tree")
    parser.add_argument("--new", type=Path, help="checkout of the new tree")
    parser.add_argument("--old-rev", help="old git revision (a temporary worktree)")
    parser.add_argument("--new-rev", help="new git revision (a temporary worktree)")
    args = parser.parse_args()
    if (args.old is None) == (args.old_rev is None) or (args.new is None) == (args.new_rev is None):
        parser.error("give --old or --old-rev, and --new or --new-rev")
    revs = {side: rev for side in ("old", "new") if (rev := getattr(args, f"{side}_rev"))}
    with tempfile.TemporaryDirectory(prefix="replay-identity-") as tmp_name, worktrees(revs) as co:
        tmp = Path(tmp_name)
        trees = {side: (co.get(side) or getattr(args, side)).resolve() for side in ("old", "new")}
        for side, tree in trees.items():  # is it really this tree's code that runs?
            where = run(tree, "-c", "import streamproc; print(streamproc.__file__)")[0]
            if not Path(where.decode().strip()).resolve().is_relative_to(tree):
                sys.exit(f"{side}: {tree} runs streamproc from {where.decode().strip()}")
            print(f"{side}: {tree}", flush=True)
        return 0 if compare(trees["old"], trees["new"], tmp) else 1


if __name__ == "__main__":
    sys.exit(main())
