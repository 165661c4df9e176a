"""The TLS/SASL settings: validation, the aiokafka options and Faust credentials they map to.

No broker here checks SASL (docs/reliability.md, "TLS and SASL"), so the SASL
mappings are tested here, against what aiokafka and Faust take; TLS is also
tested end to end in tests/integration/test_tls.py.
"""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from faust.auth import SASLCredentials, SSLCredentials
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from streamproc.broker import free_port
from streamproc.cli import main
from streamproc.config import load_config
from streamproc.kafka_security import (
    KafkaSecurity,
    client_options,
    connection_problem,
    describe_failure,
    faust_credentials,
)

SECRET = "pa55-w0rd-never-shown"


@pytest.fixture(scope="module")
def pem(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate and its key (serves as CA and as client certificate)."""
    folder = tmp_path_factory.mktemp("pem")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=unit", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def test_plaintext_is_the_default():
    assert client_options(None) == {"security_protocol": "PLAINTEXT"}
    assert client_options(KafkaSecurity()) == {"security_protocol": "PLAINTEXT"}
    assert client_options(load_config(env={})) == {"security_protocol": "PLAINTEXT"}
    assert faust_credentials(None) is None


def test_ssl_verifies_the_broker_with_the_ca_file(pem):
    options = client_options({"security_protocol": "ssl", "ssl_cafile": str(pem[0])})
    assert set(options) == {"security_protocol", "ssl_context"}
    assert options["security_protocol"] == "SSL"
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName", "unit"),),)]


def test_ssl_client_certificate_loads(pem):
    security = KafkaSecurity(
        security_protocol="SSL",
        ssl_cafile=str(pem[0]),
        ssl_certfile=str(pem[0]),
        ssl_keyfile=str(pem[1]),
    )
    assert isinstance(client_options(security)["ssl_context"], ssl.SSLContext)


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "scram-sha-512"])
def test_sasl_plaintext_maps_to_aiokafka_sasl_options(mechanism):
    options = client_options(
        SimpleNamespace(
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism=mechanism,
            sasl_username="svc",
            sasl_password=SECRET,
        )
    )
    assert options == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": mechanism.upper(),
        "sasl_plain_username": "svc",
        "sasl_plain_password": SECRET,
    }


def test_sasl_ssl_has_both(pem):
    options = client_options(
        KafkaSecurity(
            security_protocol="SASL_SSL",
            ssl_cafile=str(pem[0]),
            sasl_mechanism="SCRAM-SHA-512",
            sasl_username="svc",
            sasl_password=SECRET,
        )
    )
    assert options["security_protocol"] == "SASL_SSL"
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert (options["sasl_mechanism"], options["sasl_plain_username"]) == ("SCRAM-SHA-512", "svc")


@pytest.mark.parametrize(
    "settings",
    [
        {"security_protocol": "SSL"},
        {"security_protocol": "SASL_PLAINTEXT", "sasl_username": "u", "sasl_password": SECRET},
        {
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "SCRAM-SHA-256",
            "sasl_username": "u",
            "sasl_password": SECRET,
        },
    ],
    ids=["SSL", "SASL_PLAINTEXT", "SASL_SSL"],
)
def test_faust_gets_the_same_options_as_our_clients(pem, settings):
    if "SSL" in settings["security_protocol"]:
        settings = {**settings, "ssl_cafile": str(pem[0])}
    credentials = faust_credentials(settings)
    assert isinstance(
        credentials, SASLCredentials if "sasl_username" in settings else SSLCredentials
    )
    via_faust = dict(credentials_to_aiokafka_auth(credentials))
    ours = client_options(settings)
    if via_faust.get("ssl_context") is None:  # Faust always names the key, None without TLS
        via_faust.pop("ssl_context", None)
    assert set(via_faust) == set(ours)
    for key in ours:
        if key == "ssl_context":
            assert isinstance(via_faust[key], ssl.SSLContext)
        else:
            assert via_faust[key] == ours[key]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"security_protocol": "TLS"}, "security_protocol: 'TLS' is not one of PLAINTEXT, SSL"),
        (
            {"security_protocol": "SASL_SSL", "sasl_mechanism": "GSSAPI"},
            "sasl_mechanism: 'GSSAPI' is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512",
        ),
        ({"security_protocol": "SSL", "ssl_cafile": "/no/ca.pem"}, "ssl_cafile: no such file"),
        ({"ssl_cafile": "CA"}, "ssl_cafile is set but security_protocol is PLAINTEXT"),
        ({"security_protocol": "SASL_SSL"}, "sasl_username: required with security_protocol"),
        (
            {"security_protocol": "SASL_PLAINTEXT", "sasl_username": "u"},
            "sasl_password: required with security_protocol SASL_PLAINTEXT",
        ),
        ({"security_protocol": "SSL", "sasl_username": "u"}, "sasl_username is set but"),
        ({"security_protocol": "SSL", "ssl_keyfile": "CA"}, "ssl_keyfile is set without"),
        ({"security_protocol": "SSL", "ssl_cafile": "NOT_PEM"}, "ssl_cafile: cannot load"),
        ({"security_protocol": "SSL", "ssl_certfile": "NOT_PEM"}, "ssl_certfile/ssl_keyfile:"),
    ],
)
def test_a_wrong_setting_is_named_in_one_line(pem, tmp_path, settings, message):
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello\n")
    files = {"CA": str(pem[0]), "NOT_PEM": str(not_pem)}
    settings = {k: files.get(v, v) for k, v in settings.items()}
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(")) as caught:
        KafkaSecurity.of(settings)
    assert "\n" not in str(caught.value)
    with pytest.raises(ValueError, match=message.split(":")[0]):  # the same through the config
        load_config(env={f"STREAMPROC_{k.upper()}": v for k, v in settings.items()})


def test_the_password_is_never_shown():
    env = {
        "STREAMPROC_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "STREAMPROC_SASL_MECHANISM": "SCRAM-SHA-256",
        "STREAMPROC_SASL_USERNAME": "svc",
        "STREAMPROC_SASL_PASSWORD": SECRET,
    }
    config = load_config(env=env)
    assert config.security.sasl_password == SECRET
    for text in (repr(config), str(config), repr(config.security), repr(faust_credentials(config))):
        assert SECRET not in text
    assert "sasl_password=***" in repr(config.security)
    refused = describe_failure(f"127.0.0.1:{free_port()}", config, RuntimeError("x"))
    assert SECRET not in refused and "connection refused" in refused


def test_the_toml_worker_table_and_the_environment_both_set_it(pem, tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(
        f'[worker]\nsecurity_protocol = "SASL_SSL"\nssl_cafile = "{pem[0]}"\n'
        'sasl_mechanism = "SCRAM-SHA-512"\nsasl_username = "file-user"\nsasl_password = "p"\n'
    )
    config = load_config(path, env={"STREAMPROC_SASL_USERNAME": "env-user"})
    assert config.security == KafkaSecurity(
        security_protocol="SASL_SSL",
        ssl_cafile=str(pem[0]),
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="env-user",
        sasl_password="p",
    )


def test_empty_environment_values_are_unset():
    config = load_config(env={"STREAMPROC_SSL_CAFILE": "", "STREAMPROC_SASL_USERNAME": ""})
    assert config.security == KafkaSecurity()


def test_connection_problem_names_a_refused_port():
    port = free_port()
    assert connection_problem(f"127.0.0.1:{port}", None) == (
        f"cannot connect to 127.0.0.1:{port}: connection refused (check the bootstrap servers)"
    )


@pytest.mark.parametrize("command", [["produce", "--simulate"], ["alerts"]])
def test_a_command_with_a_missing_ca_file_fails_in_one_line(monkeypatch, capsys, command):
    monkeypatch.setenv("STREAMPROC_SECURITY_PROTOCOL", "SSL")
    monkeypatch.setenv("STREAMPROC_SSL_CAFILE", "/nowhere/ca.pem")
    assert main(command) == 2
    assert (
        capsys.readouterr().err == "streamproc: error: ssl_cafile: no such file: /nowhere/ca.pem\n"
    )
