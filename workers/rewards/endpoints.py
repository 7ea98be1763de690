"""Which judge endpoints a worker may call: one rule for the API, the composer and the worker.

A judge calls only hosts the operator listed (the hosts of JUDGE_API_URL and
JUDGE_KEY_ENDPOINTS, and JUDGE_ALLOWED_HOSTS), and only public addresses unless the
operator listed the address or its network: a listed name that resolves to a loopback,
private, link-local or reserved address is refused. Specs are checked when they are saved
(with the name resolved), again when a worker resolves a version's judges, and the worker
checks the address each connection actually reaches (DNS can change in between).
Django-free, so the worker uses it as it is.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from workers.contracts import HostAllowlist

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

SETTING = "JUDGE_ALLOWED_HOSTS"


def host_of(url: str) -> str:
    """A URL's host, lower-case, without brackets or a trailing dot ('' when it has none)."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    return host.rstrip(".")


def allowlist(entries: Iterable[str]) -> HostAllowlist:
    """From the operator's entries: host names, IP addresses and networks (`10.0.0.0/8`)."""
    names: set[str] = set()
    networks = []
    for entry in entries:
        entry = entry.strip().lower().rstrip(".")
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            names.add(entry)
    return HostAllowlist(names=frozenset(names), networks=tuple(networks))


def _address(text: str) -> Address:
    address = ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone (fe80::1%eth0)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _listed(address: Address, allowed: HostAllowlist) -> bool:
    return any(address in network for network in allowed.networks)


def _kind(address: Address) -> str:
    for kind in ("loopback", "link-local", "private", "multicast", "unspecified"):
        if getattr(address, f"is_{kind.replace('-', '_')}"):
            return kind
    return "reserved"


_HOW = f"the operator allows it by listing it (or its network) in {SETTING}"


def _refused_kind(address: Address, allowed: HostAllowlist) -> str | None:
    """The kind of a non-public address the operator did not list; None when allowed."""
    if _listed(address, allowed) or (address.is_global and not address.is_multicast):
        return None
    return _kind(address)


def address_problem(text: str, allowed: HostAllowlist) -> str | None:
    """Why a judge may not connect to this address; None when it may."""
    address = _address(text)
    kind = _refused_kind(address, allowed)
    return None if kind is None else f"{address} is a {kind} address; {_HOW}"


def _resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def endpoint_problem(url: str, allowed: HostAllowlist) -> str | None:
    """Why a judge may not call this URL; None when it may.

    The host must be listed; every address it resolves to must be public or listed. A
    name that does not resolve now is let through: no connection can reach it, and the
    worker checks the address of every connection it makes."""
    parts = urlsplit(url)
    host = host_of(url)
    if parts.scheme not in ("http", "https") or not host:
        return "must be an http(s) URL with a host"
    try:
        literal: Address | None = _address(host)
    except ValueError:
        literal = None
    listed = _listed(literal, allowed) if literal is not None else host in allowed.names
    if not listed:
        return (
            f"{host} is not a judge host the operator allows; judges may call the hosts of "
            f"JUDGE_API_URL and JUDGE_KEY_ENDPOINTS and those listed in {SETTING}"
        )
    if literal is not None:
        return None  # the operator listed this very address
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return "has a port that is not a number from 0 to 65535"
    try:
        addresses = sorted(set(_resolve(host, port)))
    except (OSError, UnicodeError):
        return None
    for text in addresses:
        address = _address(text)
        if kind := _refused_kind(address, allowed):
            return f"{host} resolves to {address}, a {kind} address; {_HOW}"
    return None
