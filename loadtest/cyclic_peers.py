"""NannyML and Evidently on the cyclic streams: run in the PEERS' virtualenv only.

    /work/peers-venv/bin/python loadtest/cyclic_peers.py SPEC.json OUT.json

Called by ``cyclic_bench.py``, which writes the streams as CSV and the spec.
Imports nothing from streamproc (their dependencies stay out of the project's
virtualenv, and ours out of theirs). For each stream and each setup it writes
the chunks: ``start``/``end`` (event indices in that stream, end exclusive),
``start_ts``/``end_ts`` (event time of the first and last event) and the
columns flagged as drifted.

Setups, each with the library's defaults:

- NannyML 0.13.1 ``UnivariateDriftCalculator``: Jensen-Shannon distance for
  continuous and categorical columns (its defaults), alert when a chunk's
  distance leaves mean +- 3 sd of the reference chunks' distances (its
  default ``StandardDeviationThreshold``); chunks of 1,000 events, and daily
  (``chunk_period="D"``). Reference: the reference days, chunked the same way.
- Evidently 0.4.40 ``Report(metrics=[DataDriftPreset()])``: per column its
  default test for the data size (reference > 1,000 rows: normed Wasserstein
  distance > 0.1 for numeric columns with more than 5 values, Jensen-Shannon
  distance > 0.1 for categorical ones), on tumbling windows of 1,000 events
  and on each day. The reference given to every report is a seeded uniform
  sample of the reference days (``evidently_reference_rows``): with all
  reference rows each 1,000-event report costs several times longer.
"""

from __future__ import annotations

import json
import sys
import time
import warnings

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")
T0 = time.perf_counter()

CATEGORICAL = {
    "is_weekend",
    "country",
    "device",
    "payment_method",
    "browser",
    "is_new_user",
    "has_coupon",
    "merchant_category",
    "email_domain",
    "shipping_speed",
}


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:5.0f}s] {msg}", file=sys.stderr, flush=True)


def load(path: str) -> pd.DataFrame:
    df = pd.read_csv(path, dtype={c: "object" for c in CATEGORICAL}, keep_default_na=True)
    df["ts"] = pd.to_datetime(df["timestamp"], unit="s")
    # a type-changed column can come in as text: coerce numbers only where all are numbers
    return df


def columns_of(df: pd.DataFrame) -> tuple[list[str], list[str]]:
    skip = {"timestamp", "ts"}
    cats = [c for c in df.columns if c in CATEGORICAL]
    nums = [c for c in df.columns if c not in skip and c not in CATEGORICAL]
    return nums, cats


def nannyml_run(ref: pd.DataFrame, streams: dict[str, pd.DataFrame], daily: bool, chunk: int):
    import nannyml as nml

    nums, cats = columns_of(ref)
    kwargs = {"chunk_period": "D"} if daily else {"chunk_size": chunk}
    out = {}
    calc = nml.UnivariateDriftCalculator(
        column_names=nums + cats,
        treat_as_categorical=cats,
        timestamp_column_name="ts",
        **kwargs,
    )
    calc.fit(ref)
    for key, df in streams.items():
        res = calc.calculate(df).filter(period="analysis").to_df()
        chunks = []
        for _, row in res.iterrows():
            start = int(row[("chunk", "chunk", "start_index")])
            end = int(row[("chunk", "chunk", "end_index")]) + 1
            flagged = [c for c in nums + cats if bool(row[(c, "jensen_shannon", "alert")])]
            chunks.append(
                {
                    "start": start,
                    "end": end,
                    "start_ts": float(df["timestamp"].iloc[start]),
                    "end_ts": float(df["timestamp"].iloc[end - 1]),
                    "flagged": flagged,
                }
            )
        out[key] = chunks
        log(f"nannyml {'daily' if daily else chunk}: {key}: {len(chunks)} chunks")
    return out


def evidently_run(
    ref: pd.DataFrame, streams: dict[str, pd.DataFrame], daily: bool, chunk: int, spec: dict
):
    ref_rows, seed = spec["evidently_reference_rows"], spec["seed"]
    day_seconds, origin = spec["day_seconds"], spec["origin"]
    stride = 1 if daily else int(spec.get("evidently_stride", 1))
    from evidently import ColumnMapping
    from evidently.metric_preset import DataDriftPreset
    from evidently.report import Report

    nums, cats = columns_of(ref)
    mapping = ColumnMapping(
        numerical_features=nums,
        categorical_features=cats,
        datetime=None,
        target=None,
        prediction=None,
    )
    cols = nums + cats
    reference = ref[cols]
    if ref_rows and len(reference) > ref_rows:
        reference = reference.sample(n=ref_rows, random_state=seed).sort_index()
    out = {}
    for key, df in streams.items():
        if daily:
            day = ((df["timestamp"].to_numpy() - origin) // day_seconds).astype(np.int64)
            bounds = np.flatnonzero(np.diff(day)) + 1
            edges = [0, *bounds.tolist(), len(df)]
        else:
            edges = list(range(0, len(df), chunk)) + [len(df)]
        chunks = []
        target = spec.get("targets", {}).get(key)
        for k, (start, end) in enumerate(zip(edges[:-1], edges[1:], strict=False)):
            if end - start < (chunk // 2 if not daily else 1):
                continue  # a short tail window is not judged
            if target is None and k % stride:
                continue  # drift-free stream: every stride-th window only (cost)
            if target is not None and df["timestamp"].iloc[end - 1] < spec["change_at"]:
                continue  # drifted stream: only windows that end after the change
            report = Report(metrics=[DataDriftPreset()])
            report.run(
                reference_data=reference,
                current_data=df[cols].iloc[start:end],
                column_mapping=mapping,
            )
            flagged = []
            for metric in report.as_dict()["metrics"]:
                by_col = metric["result"].get("drift_by_columns")
                if by_col:
                    flagged = [c for c, r in by_col.items() if r.get("drift_detected")]
            chunks.append(
                {
                    "start": start,
                    "end": end,
                    "start_ts": float(df["timestamp"].iloc[start]),
                    "end_ts": float(df["timestamp"].iloc[end - 1]),
                    "flagged": flagged,
                }
            )
            if target is not None and target in flagged:
                break  # the delay is known
        out[key] = chunks
        log(f"evidently {'daily' if daily else chunk}: {key}: {len(chunks)} chunks")
    return out


def main() -> int:
    spec = json.loads(open(sys.argv[1]).read())
    ref = load(spec["reference"])
    streams = {k: load(p) for k, p in spec["streams"].items()}
    log(f"loaded reference {len(ref):,} rows, streams {[len(s) for s in streams.values()]}")
    chunk = int(spec["chunk_events"])
    results = {}
    only = spec.get("only")
    for label, fn in (
        ("NannyML, 1k chunks", lambda: nannyml_run(ref, streams, False, chunk)),
        ("NannyML, daily chunks", lambda: nannyml_run(ref, streams, True, chunk)),
        ("Evidently, 1k windows", lambda: evidently_run(ref, streams, False, chunk, spec)),
        ("Evidently, daily windows", lambda: evidently_run(ref, streams, True, chunk, spec)),
    ):
        if only and label not in only:
            continue
        try:
            results[label] = fn()
        except Exception as exc:  # report what failed, keep the other setups
            results[label] = {"error": f"{type(exc).__name__}: {exc}"}
            log(f"{label} failed: {type(exc).__name__}: {exc}")
    with open(sys.argv[2], "w") as f:
        json.dump(results, f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
