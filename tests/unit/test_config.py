from pathlib import Path

import pytest

from streamproc.config import load_config

ROOT = Path(__file__).parents[2]


def test_precedence_defaults_file_env_flags(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(
        '[worker]\nbootstrap = "file:1"\nmetrics_port = 1\n'
        "[detectors]\nwindow_events = 2000\n[models.m]\npsi_min = 0.2\n"
    )
    cfg = load_config(path, env={"STREAMPROC_METRICS_PORT": "2"}, flags={"bootstrap": None})
    assert (cfg.bootstrap, cfg.metrics_port) == ("file:1", 2)
    assert cfg.detectors.window_events == 2000
    assert cfg.model_overrides == {"m": {"psi_min": 0.2}}
    cfg = load_config(path, env={}, flags={"bootstrap": "flag:3"})
    assert cfg.bootstrap == "flag:3"


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("[worker]\nnope = 1\n", {}, "\\[worker\\]: unknown setting\\(s\\) nope"),
        ("[detectors]\nwindow = 1\n", {}, "\\[detectors\\]: unknown setting\\(s\\) window"),
        ('[models."m"]\nbins = 3\n', {}, "models.'m'"),
        ("[detectors]\nnumeric_bins = 1\n", {}, "numeric_bins"),
        ("not toml [", {}, "config file"),
        ("", {"STREAMPROC_METRICS_PORT": "abc"}, "STREAMPROC_METRICS_PORT"),
        (
            "",
            {"STREAMPROC_DECODERS": "-1"},
            "STREAMPROC_DECODERS: decoders: must be at least 0, got -1",
        ),
        (
            "",
            {"STREAMPROC_CHECKPOINT_SECONDS": "-1"},
            "STREAMPROC_CHECKPOINT_SECONDS: checkpoint_seconds: must be at least 0, got -1",
        ),
        ("", {"STREAMPROC_CHECKPOINT_SECONDS": "often"}, "STREAMPROC_CHECKPOINT_SECONDS"),
    ],
)
def test_clear_errors(tmp_path, text, env, message):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_config(path, env=env)


def test_decoder_processes_default_to_one_beside_the_worker_with_two_cpus(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert load_config(env={}).decoders == 1
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    assert load_config(env={}).decoders == 0
    assert load_config(env={"STREAMPROC_DECODERS": "3"}, flags={"decoders": 2}).decoders == 2


def test_the_shipped_kubernetes_sample_loads():
    cfg = load_config(ROOT / "deploy" / "k8s" / "streamproc.toml", env={})
    assert cfg.model_overrides["fraud-detector"]["window_events"] == 5000


def test_the_old_max_features_names_still_work_with_one_warning_each(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[worker]\nmax_features = 7\n[detectors]\nmax_features = 30\n")
    warnings: list[str] = []
    cfg = load_config(path, env={"STREAMPROC_MAX_FEATURES": "9"}, warn=warnings.append)
    assert cfg.max_feature_series == 9  # the environment wins over the file
    assert cfg.detectors.max_tracked_features == 30
    assert len(warnings) == 3
    said = "\n".join(warnings)
    assert "[worker]: max_features is deprecated, use max_feature_series" in said
    assert "[detectors]: max_features is deprecated, use max_tracked_features" in said
    assert "STREAMPROC_MAX_FEATURES is deprecated, use STREAMPROC_MAX_FEATURE_SERIES" in said
    new = load_config(env={"STREAMPROC_MAX_FEATURE_SERIES": "11"}, warn=warnings.append)
    assert new.max_feature_series == 11 and len(warnings) == 3


def test_old_and_new_name_together_is_a_mistake(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[detectors]\nmax_features = 30\nmax_tracked_features = 40\n")
    with pytest.raises(ValueError, match="give max_tracked_features or its old name"):
        load_config(path, env={}, warn=lambda _: None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[detectors]\nwindow_events = 1000.5\n",
            r"\[detectors\] window_events: expected an integer, got 1000.5",
        ),
        ("[detectors]\nwindow_events = -5\n", r"window_events: must be at least 1, got -5"),
        (
            "[detectors]\nmin_window_events = 600\n",
            r"min_window_events \(600\) must be at most window_events \(500\)",
        ),
        ("[detectors]\npsi_min = true\n", r"psi_min: expected a number, got True"),
        ("[worker]\nlabels = 1\n", r"\[worker\] labels: expected true or false, got 1"),
        ("[worker]\nmetrics_port = 70000\n", r"metrics_port: must be at most 65535"),
        ('[worker]\nlog_level = "LOUD"\n', r"log_level: expected one of DEBUG"),
        ("[worker.topics]\nalerts = 5\n", r"\[worker.topics\] alerts: expected a string, got 5"),
        ("[worker]\ntopics = 5\n", r"\[worker.topics\]: expected a table"),
        ("[models.m]\nx = 1\n", r"\[models.'m'\]: unknown setting"),
    ],
)
def test_every_field_is_checked_by_name_and_type(tmp_path, text, message):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_config(path, env={})


def test_rate_and_floats_accept_whole_numbers_and_log_level_any_case(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(
        '[worker]\nrebalance_timeout_s = 3\nlog_level = "debug"\n[detectors]\npsi_min = 1\n'
    )
    cfg = load_config(path, env={})
    assert cfg.rebalance_timeout_s == 3 and cfg.log_level == "DEBUG"
    assert cfg.detectors.psi_min == 1


def test_checkpoints_are_on_by_default_and_0_turns_them_off():
    assert load_config(env={}).checkpoint_seconds == 10.0
    assert load_config(env={"STREAMPROC_CHECKPOINT_SECONDS": "0"}).checkpoint_seconds == 0.0
    assert load_config(env={}).topics.state == "monitor.state"
