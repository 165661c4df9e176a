"""Every wrong command, flag, file or setting: one line on stderr, a non-zero exit,
no traceback (run as a user would, as subprocesses, without Kafka)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import orjson
import pytest


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "streamproc", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def one_line_error(result: subprocess.CompletedProcess, *needles: str) -> str:
    """Assert the command failed with exactly one stderr line holding ``needles``."""
    lines = result.stderr.splitlines()
    assert result.returncode != 0, result
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def events(tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_text('{"model_id": "m", "features": {"x": 1.0}}\n')
    return path


def config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return str(path)


def test_a_ragged_csv_row_names_the_file_and_line(tmp_path):
    path = tmp_path / "ref.csv"
    path.write_text("amount,country\n1.5,DE\n2.5\n")
    one_line_error(run("baseline", "fit", "--model", "m", "--input", str(path)), "ref.csv:3:")


@pytest.mark.parametrize("name", ["ref.csv", "ref.jsonl"])
def test_a_binary_input_file_names_the_file_and_line(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"\xf0\x28\x8c\x28\x00\x01binary\n")
    one_line_error(run("baseline", "fit", "--model", "m", "--input", str(path)), f"{name}:1:")


def test_a_bad_baseline_file_is_named(tmp_path, events):
    bad = tmp_path / "b.json"
    bad.write_text('{"schema": "baseline.v1"} trailing')
    line = one_line_error(run("replay", "--input", str(events), "--baseline", str(bad)), "b.json")
    assert "not a baseline JSON file" in line
    bad.write_text('{"schema": "baseline.v1"}')
    one_line_error(run("replay", "--input", str(events), "--baseline", str(bad)), "b.json")


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        (
            "[detectors]\nwindow_events = 1000.5\n",
            ["c.toml", "[detectors] window_events: expected an integer, got 1000.5"],
        ),
        (
            '[detectors]\nwindow_events = "1000"\n',
            ["[detectors] window_events: expected an integer, got the string '1000'"],
        ),
        ("[detectors]\nwindow_events = -5\n", ["window_events: must be at least 1, got -5"]),
        (
            '[worker]\nmetrics_port = "abc"\n',
            ["[worker] metrics_port: expected an integer, got the string 'abc'"],
        ),
        ('[worker]\nmax_batch = "big"\n', ["[worker] max_batch: expected an integer"]),
        ("[workers]\nmax_batch = 5\n", ["unknown table(s) [workers]"]),
        ('[worker.topics]\nalert = "a"\n', ["[worker.topics]: unknown setting(s) alert"]),
        ('[models."m"]\npsi_min = "high"\n', ["[models.'m'] psi_min: expected a number"]),
        ("[models]\nm = 3\n", ["[models.'m']: expected a table"]),
        # the known names were an empty list: "(known: )"
        ("[detectors]\nbogus = 1\n", ["unknown setting(s) bogus", "known: adwin_block,"]),
        ('[models."m"]\nbogus = 1\n', ["[models.'m']", "known: adwin_block,"]),
        # NaN passed every range check; infinity was taken
        ("[detectors]\npsi_min = nan\n", ["[detectors] psi_min: expected a finite", "got nan"]),
        ("[worker]\ncheckpoint_seconds = nan\n", ["[worker] checkpoint_seconds", "got nan"]),
        ("[worker]\nlabel_ttl_seconds = inf\n", ["[worker] label_ttl_seconds", "got inf"]),
        ("[detectors]\npsi_min = -inf\n", ["[detectors] psi_min", "finite", "got -inf"]),
        # the deprecation warning came first: two lines
        (
            "[worker]\nmax_features = 3\nmax_feature_series = 4\n",
            ["give max_feature_series or its old name max_features, not both"],
        ),
        ('[worker]\nbootstrap = "kafka:http"\n', ["[worker] bootstrap", "'kafka:http'"]),
        ('[worker]\ngroup_id = ""\n', ["[worker] group_id", "consumer group"]),
        ('[worker]\nssl_cafile = "/x"\n', ["c.toml: [worker] ssl_cafile is set but"]),
    ],
)
def test_config_mistakes_name_the_key_and_what_was_expected(tmp_path, events, text, needles):
    path = config(tmp_path, text)
    one_line_error(run("replay", "--input", str(events), "--config", path), *needles)


def test_a_config_mistake_stops_the_worker_in_one_line(tmp_path):
    path = config(tmp_path, '[worker]\nmetrics_port = "abc"\n')
    one_line_error(run("worker", "--config", path), "[worker] metrics_port")


def test_log_level_debug_shows_the_traceback_too(tmp_path):
    path = config(tmp_path, '[worker]\nmetrics_port = "abc"\n')
    result = run("worker", "--config", path, "--log-level", "DEBUG")
    assert result.returncode != 0
    assert "Traceback" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("streamproc: error: config file")


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["worker", "--log-level", "LOUD"], ["--log-level", "LOUD", "DEBUG, INFO"]),
        (["produce", "--rate", "0", "--simulate"], ["--rate", "at least 1", "'0'"]),
        (["produce", "--rate", "0.5", "--simulate"], ["--rate", "at least 1"]),
        (["produce", "--per-record", "0", "--simulate"], ["--per-record", "at least 1"]),
        (["produce", "--per-record", "2.5", "--simulate"], ["--per-record", "whole number"]),
        (["alerts", "--since", "yesterday"], ["--since", "'yesterday'", "10m"]),
        (["alerts", "--status", "open"], ["--status", "'open'"]),
        (["replay"], ["--input"]),
        (["broker", "--port", "-1"], ["--port", "from 0 to 65535", "'-1'"]),
        (["broker", "--port", "99999"], ["--port", "'99999'"]),
        (["demo", "--rate", "0"], ["--rate", "at least 1", "'0'"]),
        (["demo", "--rate", "inf"], ["--rate", "'inf'"]),
        (["demo", "--duration", "-1"], ["--duration", "'-1'"]),
        (["demo", "--duration", "nan"], ["--duration", "'nan'"]),
        (["produce", "--rate", "inf", "--simulate"], ["--rate", "'inf'"]),
        (["produce", "--events", "-1", "--simulate"], ["--events", "'-1'"]),
        (["produce", "--drift-at", "-5", "--simulate"], ["--drift-at", "at least 0", "'-5'"]),
        (["alerts", "--idle", "nan"], ["--idle", "above 0", "'nan'"]),
        (["alerts", "--idle", "-1"], ["--idle", "'-1'"]),
        (["status", "--timeout", "0"], ["--timeout", "above 0", "'0'"]),
        (["status", "--timeout", "-1"], ["--timeout", "'-1'"]),
    ],
)
def test_wrong_flags_are_one_line(args, needles):
    one_line_error(run(*args), *needles)


def test_an_environment_mistake_names_the_variable(events):
    result = run("replay", "--input", str(events), env={"STREAMPROC_LOG_LEVEL": "LOUD"})
    one_line_error(result, "STREAMPROC_LOG_LEVEL", "log_level", "'LOUD'")


@pytest.mark.parametrize(
    ("env", "needles"),
    [
        ({"STREAMPROC_CHECKPOINT_SECONDS": "nan"}, ["STREAMPROC_CHECKPOINT_SECONDS", "got nan"]),
        ({"STREAMPROC_LABEL_TTL_SECONDS": "inf"}, ["STREAMPROC_LABEL_TTL_SECONDS", "got inf"]),
        ({"STREAMPROC_SSL_CAFILE": "/x"}, ["STREAMPROC_SSL_CAFILE: ssl_cafile is set but"]),
        ({"STREAMPROC_GROUP_ID": ""}, ["STREAMPROC_GROUP_ID", "consumer group"]),
        # was "invalid literal for int() with base 10: 'abc'"; -1 was taken
        ({"STREAMPROC_MAX_BATCH_FEATURES": "abc"}, ["STREAMPROC_MAX_BATCH_FEATURES", "'abc'"]),
        ({"STREAMPROC_MAX_BATCH_FEATURES": "-1"}, ["STREAMPROC_MAX_BATCH_FEATURES", "at least 1"]),
    ],
)
def test_environment_mistakes_name_the_variable(events, env, needles):
    one_line_error(run("replay", "--input", str(events), env=env), *needles)


@pytest.mark.parametrize(
    ("bootstrap", "needle"),
    [
        ("kafka:p", "(port 'p' is not 1 to 65535)"),  # was "SASL login refused by the broker"
        ("127.0.0.1:99999", "'99999'"),  # was an OverflowError and an "Unclosed" dump
        (":::", "':::'"),
        ("http://kafka:9092", "'http://kafka:9092'"),
        ("", "got ''"),
    ],
)
@pytest.mark.parametrize("command", [["alerts"], ["worker"], ["produce", "--simulate"]])
def test_a_malformed_bootstrap_is_named_before_connecting(command, bootstrap, needle):
    result = run(*command, env={"STREAMPROC_BOOTSTRAP": bootstrap})
    one_line_error(result, "STREAMPROC_BOOTSTRAP: bootstrap: expected host:port", needle)
    one_line_error(run(*command, "--bootstrap", bootstrap), "--bootstrap: bootstrap:", needle)


def reference_csv(path: Path, rows: int, *, bad_ages: dict[int, str] | None = None) -> Path:
    lines = ["row_id,age,country,score"]
    for i in range(rows):
        age = (bad_ages or {}).get(i, str(20 + (i * 7) % 50 + 0.1))
        lines.append(f"{1000 + i},{age},{'DE' if i % 3 else 'FR'},{(i % 10) / 10}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_baseline_fit_warns_of_few_rows_ids_and_unparsed_numbers(tmp_path):
    path = reference_csv(tmp_path / "ref.csv", 50, bad_ages={15: "abc", 30: "n/a", 31: "?"})
    result = run("baseline", "fit", "--model", "m", "--input", str(path))
    assert result.returncode == 0, result.stderr
    warnings = result.stderr.splitlines()
    assert len(warnings) == 3, warnings
    assert "only 50 reference rows for 10 bins" in warnings[0]
    assert "column 'row_id' looks like an id (integers increasing by 1)" in warnings[1]
    # row 15 is on line 17 (after the header line)
    assert "column 'age': 3 values do not parse as numbers (first at line 17: 'abc')" in warnings[2]


def test_baseline_fit_rounds_excludes_and_takes_the_prediction_column(tmp_path):
    path = reference_csv(tmp_path / "ref.csv", 200)
    out = tmp_path / "b.json"
    result = run(
        "baseline",
        "fit",
        "--model",
        "m",
        "--input",
        str(path),
        "--prediction-column",
        "score",
        "--exclude",
        "row_id",
        "--output",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr
    baseline = orjson.loads(out.read_bytes())
    assert set(baseline["features"]) == {"age", "country"}
    assert baseline["prediction"]["score"]["kind"] == "numeric"

    def floats(value):
        if isinstance(value, float):
            yield value
        elif isinstance(value, dict):
            for k, v in value.items():
                if not k.endswith("_at"):
                    yield from floats(v)
        elif isinstance(value, list):
            for v in value:
                yield from floats(v)

    values = list(floats(baseline))
    assert values and all(len(repr(v).lstrip("-").replace(".", "")) <= 8 for v in values)
    assert any(v != round(v) for v in values)  # not rounded to whole numbers


def test_baseline_fit_exclude_of_a_missing_column_is_one_line(tmp_path):
    path = reference_csv(tmp_path / "ref.csv", 5)
    result = run("baseline", "fit", "--model", "m", "--input", str(path), "--exclude", "nope")
    one_line_error(result, "--exclude nope", "ref.csv")


def test_baseline_fit_prediction_column_of_a_missing_column_is_one_line(tmp_path):
    # was a baseline without its prediction, exit 0
    path = reference_csv(tmp_path / "ref.csv", 5)
    result = run(
        "baseline", "fit", "--model", "m", "--input", str(path), "--prediction-column", "scroe"
    )
    one_line_error(result, "--prediction-column scroe", "ref.csv", "'scroe'")


@pytest.mark.parametrize(
    ("content", "needle"),
    [(b"\xf0\x28\x8c\x28 binary\n", "in.jsonl:1: not valid JSON"), (b"\n", "no events")],
)
def test_produce_reports_a_bad_input_file_before_connecting(tmp_path, content, needle):
    path = tmp_path / "in.jsonl"
    path.write_bytes(content)
    # the bootstrap is never tried: the file is read first
    one_line_error(run("produce", "--input", str(path), "--bootstrap", "127.0.0.1:1"), needle)


@pytest.mark.parametrize(
    ("args", "env", "needles"),
    [
        (["produce", "--input", "EVENTS", "--topic", "bad/topic"], {}, ["--topic", "'bad/topic'"]),
        (["alerts", "--topic", "a b"], {}, ["--topic", "'a b'"]),
        (["alerts", "--topic", ""], {}, ["--topic", "empty string"]),
        (
            ["produce", "--input", "EVENTS"],
            {"STREAMPROC_TOPIC_EVENTS": "x/y"},
            ["STREAMPROC_TOPIC_EVENTS", "'x/y'"],
        ),
        (
            ["alerts"],
            {"STREAMPROC_TOPIC_ALERTS": ""},
            ["STREAMPROC_TOPIC_ALERTS", "alerts"],
        ),
    ],
)
def test_a_bad_topic_name_is_one_line_before_connecting(events, args, env, needles):
    # a broker took 40 s to refuse --topic bad/topic (UnknownTopicOrPartitionError, unnamed)
    args = [str(events) if a == "EVENTS" else a for a in args]
    one_line_error(run(*args, "--bootstrap", "127.0.0.1:1", env=env), *needles)


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("http://127.0.0.1:abc", "nonnumeric port"),  # was "InvalidURL: ..." without the URL
        ("http://127.0.0.1/a b", "control characters"),
        ("file:///etc/passwd", "expected an http:// or https:// address"),
    ],
)
def test_a_malformed_worker_url_is_named(url, needle):
    one_line_error(run("status", "--worker", url, "--timeout", "1"), f"--worker {url}", needle)


def test_broker_mistakes_are_one_line_before_the_broker_starts():
    # each was "broker exited with code N; log: ..." and then the broker's log, 3 to 11 lines
    one_line_error(run("broker", "--storage", "memory"), "--storage memory")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        line = one_line_error(run("broker", "--port", str(port)), f"127.0.0.1:{port}", "--port")
    assert "already in use" in line
    one_line_error(run("broker", "--host", "nohost.invalid"), "nohost.invalid:9092", "--host")


def test_s3_storage_without_an_endpoint_is_one_line():
    # Tansu waited 20 s for an S3 endpoint nobody had named
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {"AWS_CA_BUNDLE": "/etc/ssl/certs/ca-certificates.crt", "AWS_REGION": "eu-west-1"}
    result = subprocess.run(
        [sys.executable, "-m", "streamproc", "broker", "--storage", "s3://bucket/"],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    one_line_error(result, "--storage s3://bucket/", "AWS_ENDPOINT")


@pytest.mark.parametrize("command", [["replay"], ["report", "--output", "OUT"]])
@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("event_id,label\ne1,1\n", "looks like CSV"),  # was "0 matched ... 2 rejected", exit 0
        ("", "it is empty (no label events)"),
    ],
)
def test_a_labels_file_that_is_not_json_lines_is_one_line(
    tmp_path, events, command, content, needle
):
    labels = tmp_path / "labels.csv"
    labels.write_text(content)
    args = [str(tmp_path / "r.html") if a == "OUT" else a for a in command]
    result = run(*args, "--input", str(events), "--labels", str(labels))
    one_line_error(result, f"--labels {labels}", needle)


def test_report_names_a_missing_file_as_replay_does(tmp_path, events):
    # was "[Errno 2] No such file or directory: '...'"
    missing = tmp_path / "nope.jsonl"
    line = one_line_error(run("report", "--input", str(missing)), f"{missing}: No such file")
    assert "Errno" not in line
    out = tmp_path / "no" / "r.html"
    line = one_line_error(run("report", "--input", str(events), "--output", str(out)), str(out))
    assert "Errno" not in line


def test_an_unknown_streamproc_variable_is_named_once_with_the_nearest_setting(events):
    """A typo in a variable name used to be ignored without a word."""
    result = run("replay", "--input", str(events), env={"STREAMPROC_CHECKPOINT_SECONDZ": "5"})
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "not a streamproc setting" in line]
    assert warnings == [
        "streamproc: warning: STREAMPROC_CHECKPOINT_SECONDZ is not a streamproc setting "
        "(ignored); did you mean STREAMPROC_CHECKPOINT_SECONDS?"
    ], result.stderr


def test_an_output_that_cannot_be_written_names_the_flag_and_the_file(tmp_path):
    """A write that fails after the file opened (here EIO) has no file name of
    its own: the error used to be only "Input/output error"."""
    rows = tmp_path / "ref.jsonl"
    rows.write_text('{"model_id": "m", "features": {"x": 1.0}}\n' * 120)
    for command in (["baseline", "fit", "--model", "m"], ["report"]):
        result = run(*command, "--input", str(rows), "--output", "/proc/version")
        one_line_error(result, "--output /proc/version: ")
