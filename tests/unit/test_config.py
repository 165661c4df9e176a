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
        ("[worker]\nnope = 1\n", {}, "unknown \\[worker\\] setting"),
        ("[detectors]\nwindow = 1\n", {}, "unknown detector setting"),
        ('[models."m"]\nbins = 3\n', {}, "models.'m'"),
        ("[detectors]\nnumeric_bins = 1\n", {}, "numeric_bins"),
        ("not toml [", {}, "config file"),
        ("", {"STREAMPROC_METRICS_PORT": "abc"}, "STREAMPROC_METRICS_PORT"),
        ("", {"STREAMPROC_DECODERS": "-1"}, "decoders must be 0 or more"),
        ("", {"STREAMPROC_CHECKPOINT_SECONDS": "-1"}, "checkpoint_seconds must be 0 .off. or more"),
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


def test_checkpoints_are_on_by_default_and_0_turns_them_off():
    assert load_config(env={}).checkpoint_seconds == 10.0
    assert load_config(env={"STREAMPROC_CHECKPOINT_SECONDS": "0"}).checkpoint_seconds == 0.0
    assert load_config(env={}).topics.state == "monitor.state"
