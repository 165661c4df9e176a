"""How every Kafka client of streamproc authenticates: settings -> aiokafka options.

Seven settings (the ``[worker]`` table of the TOML file, or ``STREAMPROC_*``
environment variables) describe the connection to the brokers:

=====================  =============================================  ==============
setting                values                                         default
=====================  =============================================  ==============
``security_protocol``  PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL        PLAINTEXT
``ssl_cafile``         PEM file of the CA(s) that signed the brokers  system CAs
``ssl_certfile``       PEM client certificate (mutual TLS)            none
``ssl_keyfile``        PEM key of ``ssl_certfile``                    in the certfile
``sasl_mechanism``     PLAIN, SCRAM-SHA-256, SCRAM-SHA-512            PLAIN
``sasl_username``      required with SASL_*                           none
``sasl_password``      required with SASL_*; never shown              none
=====================  =============================================  ==============

:func:`client_options` turns them into keyword arguments of aiokafka's
producer, consumer and admin client; :func:`faust_credentials` into Faust's
``broker_credentials``. Every Kafka client of streamproc (the worker, its
Faust app, ``produce``, ``alerts``, ``baseline fit --publish``, the demo)
goes through them, and so can any other program:

>>> client_options(KafkaSecurity())
{'security_protocol': 'PLAINTEXT'}
>>> opts = client_options({"security_protocol": "sasl_plaintext", "sasl_mechanism": "SCRAM-SHA-256",
...                        "sasl_username": "svc", "sasl_password": "s3cret"})
>>> sorted(opts.items())   # doctest: +NORMALIZE_WHITESPACE
[('sasl_mechanism', 'SCRAM-SHA-256'), ('sasl_plain_password', 's3cret'),
 ('sasl_plain_username', 'svc'), ('security_protocol', 'SASL_PLAINTEXT')]
>>> KafkaSecurity(security_protocol="SASL_SSL", sasl_username="svc", sasl_password="s3cret")
...                                               # doctest: +NORMALIZE_WHITESPACE
KafkaSecurity(security_protocol='SASL_SSL', ssl_cafile=None, ssl_certfile=None,
              ssl_keyfile=None, sasl_mechanism='PLAIN', sasl_username='svc', sasl_password=***)
>>> KafkaSecurity(security_protocol="TLS")
Traceback (most recent call last):
ValueError: security_protocol: 'TLS' is not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL
"""

from __future__ import annotations

import dataclasses
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
SETTINGS = (
    "security_protocol",
    "ssl_cafile",
    "ssl_certfile",
    "ssl_keyfile",
    "sasl_mechanism",
    "sasl_username",
    "sasl_password",
)


@dataclass(frozen=True, slots=True)
class KafkaSecurity:
    """The seven connection settings, validated (``ValueError`` names the bad one).

    The password never appears in ``repr``; files are checked to exist and to
    load into a TLS context when the protocol uses TLS.
    """

    security_protocol: str = "PLAINTEXT"
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    sasl_mechanism: str = "PLAIN"
    sasl_username: str | None = None
    sasl_password: str | None = None

    def __post_init__(self) -> None:
        protocol = str(self.security_protocol).strip().upper()
        mechanism = str(self.sasl_mechanism).strip().upper()
        object.__setattr__(self, "security_protocol", protocol)
        object.__setattr__(self, "sasl_mechanism", mechanism)
        for name in SETTINGS[1:4] + SETTINGS[5:]:  # an empty value is no value
            if getattr(self, name) == "":
                object.__setattr__(self, name, None)
        if protocol not in PROTOCOLS:
            known = ", ".join(PROTOCOLS)
            raise ValueError(f"security_protocol: {self.security_protocol!r} is not one of {known}")
        if mechanism not in MECHANISMS:
            raise ValueError(
                f"sasl_mechanism: {self.sasl_mechanism!r} is not one of {', '.join(MECHANISMS)}"
            )
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            path = getattr(self, name)
            if path is None:
                continue
            if not self.uses_tls:
                raise ValueError(f"{name} is set but security_protocol is {protocol} (no TLS)")
            if not Path(path).is_file():
                raise ValueError(f"{name}: no such file: {path}")
        if self.ssl_keyfile and not self.ssl_certfile:
            raise ValueError("ssl_keyfile is set without ssl_certfile")
        for name in ("sasl_username", "sasl_password"):
            if getattr(self, name) and not self.uses_sasl:
                raise ValueError(f"{name} is set but security_protocol is {protocol} (no SASL)")
            if self.uses_sasl and not getattr(self, name):
                raise ValueError(f"{name}: required with security_protocol {protocol}")
        if self.uses_tls:
            self.ssl_context()  # a file that is not PEM fails now, naming the setting

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}={'***' if name == 'sasl_password' and value else repr(value)}"
            for name, value in ((n, getattr(self, n)) for n in SETTINGS)
        )
        return f"KafkaSecurity({shown})"

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    def ssl_context(self) -> ssl.SSLContext | None:
        """A new client TLS context (verifies the broker's certificate and host
        name), or ``None`` when the protocol has no TLS."""
        if not self.uses_tls:
            return None
        try:
            context = ssl.create_default_context(cafile=self.ssl_cafile)
        except (ssl.SSLError, OSError) as exc:
            raise ValueError(f"ssl_cafile: cannot load {self.ssl_cafile}: {_reason(exc)}") from None
        if self.ssl_certfile:
            try:
                context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile)
            except (ssl.SSLError, OSError) as exc:
                raise ValueError(
                    f"ssl_certfile/ssl_keyfile: cannot load {self.ssl_certfile}"
                    f"{' with ' + self.ssl_keyfile if self.ssl_keyfile else ''}: {_reason(exc)}"
                ) from None
        return context

    @classmethod
    def of(cls, source: KafkaSecurity | Mapping[str, Any] | Any | None) -> KafkaSecurity:
        """The settings of ``source``: a :class:`KafkaSecurity`, a mapping, or any
        object with the setting attributes (e.g. a ``WorkerConfig``); ``None``
        is PLAINTEXT. Missing settings take their defaults."""
        if source is None:
            return cls()
        if isinstance(source, cls):
            return source
        if isinstance(source, Mapping):
            return cls(**{k: v for k, v in source.items() if k in SETTINGS})
        defaults: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(cls)}
        return cls(**{name: getattr(source, name, defaults[name]) for name in SETTINGS})


def client_options(source: KafkaSecurity | Mapping[str, Any] | Any | None) -> dict[str, Any]:
    """Keyword arguments for ``AIOKafkaProducer``/``AIOKafkaConsumer``/
    ``AIOKafkaAdminClient`` that connect as ``source`` says (see :meth:`KafkaSecurity.of`)."""
    security = KafkaSecurity.of(source)
    options: dict[str, Any] = {"security_protocol": security.security_protocol}
    if security.uses_tls:
        options["ssl_context"] = security.ssl_context()
    if security.uses_sasl:
        options["sasl_mechanism"] = security.sasl_mechanism
        options["sasl_plain_username"] = security.sasl_username
        options["sasl_plain_password"] = security.sasl_password
    return options


def faust_credentials(source: KafkaSecurity | Mapping[str, Any] | Any | None) -> Any:
    """Faust's ``broker_credentials`` for ``source`` (``None`` for PLAINTEXT).

    Faust hands them to aiokafka as the same options as :func:`client_options`
    (``faust.transport.drivers.aiokafka.credentials_to_aiokafka_auth``).
    """
    from faust.auth import SASLCredentials, SSLCredentials

    security = KafkaSecurity.of(source)
    if security.uses_sasl:
        return SASLCredentials(
            username=security.sasl_username,
            password=security.sasl_password,
            ssl_context=security.ssl_context(),
            mechanism=security.sasl_mechanism,
        )
    if security.uses_tls:
        return SSLCredentials(security.ssl_context())
    return None


async def start_client(client: Any) -> None:
    """``await client.start()`` for an aiokafka producer, consumer or admin
    client, with a refused SCRAM login as ``AuthenticationFailedError``.

    aiokafka 0.14 reads the server's final SCRAM message without checking for
    an error (``e=unknown-user``, ``e=invalid-proof``) and raises
    ``KeyError('v')`` (or ``ValueError`` on a wrong server signature), which
    would otherwise escape as a traceback instead of a Kafka error.
    """
    from aiokafka.errors import AuthenticationFailedError

    try:
        await client.start()
    except (KeyError, ValueError) as exc:
        raise AuthenticationFailedError(f"SASL login refused by the broker ({exc!r})") from exc


def wrap_probe(sock: socket.socket, host: str, security: KafkaSecurity) -> socket.socket:
    """``sock`` ready for a Kafka request as ``security`` says (TLS-wrapped if
    the protocol has TLS; SASL brokers answer ApiVersions before authentication)."""
    context = security.ssl_context()
    return context.wrap_socket(sock, server_hostname=host) if context else sock


def connection_problem(bootstrap: str, source: Any, timeout: float = 3.0) -> str | None:
    """Why a client cannot connect to ``bootstrap``, in one line, found by
    connecting to its first address (and doing the TLS handshake, if any);
    ``None`` if that works (then blame the client's own error, or SASL).

    >>> connection_problem("127.0.0.1:1", None)
    'cannot connect to 127.0.0.1:1: connection refused (check the bootstrap servers)'
    """
    security = KafkaSecurity.of(source)
    first = bootstrap.split(",")[0].strip().removeprefix("kafka://")
    host, _, port = first.rpartition(":")
    host, port = (host or port).strip("[]"), port if host else "9092"
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as raw:
            with wrap_probe(raw, host, security):
                pass
    except ssl.SSLError as exc:
        return f"TLS handshake with {first} failed: {_reason(exc)} (check ssl_cafile)"
    except ConnectionRefusedError:
        return f"cannot connect to {first}: connection refused (check the bootstrap servers)"
    except OSError as exc:
        return f"cannot connect to {first}: {_reason(exc)} (check the bootstrap servers)"
    except ValueError as exc:
        return str(exc)
    return None


def describe_failure(bootstrap: str, source: Any, error: BaseException) -> str:
    """One line on why a Kafka client failed with ``error`` (no secrets in it)."""
    security = KafkaSecurity.of(source)
    problem = connection_problem(bootstrap, security)
    if problem is None:
        problem = str(error) or type(error).__name__
        if security.uses_sasl:
            problem += " (check sasl_mechanism, sasl_username and sasl_password)"
    return f"Kafka at {bootstrap} over {security.security_protocol}: {problem}"


def _reason(exc: BaseException) -> str:
    """The readable part of an ssl/OS error."""
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        return f"certificate verify failed: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason).lower().replace("_", " ")
    return (getattr(exc, "strerror", None) or str(exc) or type(exc).__name__).lower()
