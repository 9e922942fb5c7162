"""Where a webhook may be sent: never into the platform's own network (SSRF).

A target whose host resolves to a loopback, private, link-local, shared, reserved or multicast
address, or to a cloud metadata address, is refused, unless ``FQ_WEBHOOK_ALLOW_PRIVATE`` says the
receivers live on such a network (tests, an isolated government network). The check runs when a
subscription is made and again before every delivery, since a name can resolve elsewhere later.
"""
from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}


class TargetRefused(ValueError):
    pass


def addresses(host: str) -> set[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise TargetRefused(f"url: cannot resolve {host!r}: {exc}") from exc
    return {ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos}


def check_target(url: str, allow_private: bool) -> str:
    """The URL, if a delivery may go there; raises ``TargetRefused`` naming why not."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused("url: must be an http(s) URL with a host")
    if parts.username or parts.password:
        raise TargetRefused("url: must not carry credentials; the signature authenticates the sender")
    for address in addresses(parts.hostname):
        if address in METADATA:
            raise TargetRefused(f"url: {parts.hostname} resolves to a cloud metadata address")
        if not allow_private and not address.is_global:
            raise TargetRefused(f"url: {parts.hostname} resolves to {address}, a non-public address "
                                "(set FQ_WEBHOOK_ALLOW_PRIVATE=true where receivers are on a private network)")
        if address.is_multicast or address.is_unspecified:
            raise TargetRefused(f"url: {parts.hostname} resolves to {address}, which cannot receive deliveries")
    return url
