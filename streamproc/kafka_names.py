"""What Kafka accepts as a topic name and as a bootstrap address, checked
before connecting (a broker would time out on a bad one, or refuse it
without naming it)."""

from __future__ import annotations

import ipaddress
import re

__all__ = ["check_bootstrap", "check_topic"]

_TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


def check_topic(name: str) -> str | None:
    """Why ``name`` is not a Kafka topic name, or None if it is one.

    >>> check_topic("monitor.alerts"), check_topic("bad/topic")
    (None, "expected a topic name (1 to 249 of A-Z a-z 0-9 . _ -), got 'bad/topic'")
    """
    if not name:
        return "expected a topic name, got an empty string"
    if not _TOPIC_NAME.match(name) or name in (".", ".."):
        return f"expected a topic name (1 to 249 of A-Z a-z 0-9 . _ -), got {name!r}"
    return None


def _ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def check_bootstrap(servers: str) -> str | None:
    """Why ``servers`` is not ``host[:port][,host[:port]...]`` (an IPv6 address
    in brackets when it has a port), or None if it is.

    >>> check_bootstrap("kafka-1:9092,[::1]:9093"), check_bootstrap("kafka:http")
    (None, "expected host:port[,host:port...], got 'kafka:http' (port 'http' is not 1 to 65535)")
    """
    expected = f"expected host:port[,host:port...], got {servers!r}"
    for server in servers.split(","):
        server = server.strip()
        host, port = server, None
        if server.startswith("["):
            host, _, rest = server[1:].partition("]")
            if rest and not rest.startswith(":"):
                return expected
            port = rest[1:] if rest else None
        elif ":" in server and not _ipv6(server):
            host, port = server.rsplit(":", 1)
        if not host or "/" in host:
            return expected
        if port is not None and not (port.isdigit() and 1 <= int(port) <= 65535):
            return f"{expected} (port {port!r} is not 1 to 65535)"
    return None
