"""The request guard: which hosts and addresses yt-dlp may reach (end to end in tests/test_youtube.py)."""

from __future__ import annotations

import functools
import http.client
import inspect
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import yt_dlp
from yt_dlp.networking import Request
from yt_dlp.networking._helper import _socket_connect, create_connection
from yt_dlp.networking._urllib import HTTPHandler, RedirectHandler, UrllibRH

from sources import netguard
from sources.netguard import BlockedRequestError, HostPolicy, guarded_ydl
from tests.fakes.media import MediaServer
from tests.fakes.proxy import RecordingProxy

POLICY = HostPolicy(("youtube.com", "googlevideo.com"))


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("142.250.74.110", True),
        ("2a00:1450:4001:80b::200e", True),
        ("127.0.0.1", False),
        ("127.8.9.10", False),
        ("::1", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped loopback
        ("10.0.0.1", False),
        ("172.16.5.4", False),
        ("192.168.1.1", False),
        ("100.64.0.1", False),  # carrier-grade NAT
        ("169.254.169.254", False),  # link-local: cloud metadata services live here
        ("fe80::1%eth0", False),
        ("fd12:3456::1", False),
        ("224.0.0.251", False),
        ("ff02::1", False),
        ("0.0.0.0", False),
        ("240.0.0.1", False),
        # IPv6 forms that lead to an IPv4 address are judged by it.
        ("::ffff:8.8.8.8", True),  # IPv4-mapped
        ("::ffff:10.0.0.1", False),
        ("64:ff9b::8.8.8.8", True),  # NAT64's well-known prefix: how IPv6-only hosts reach IPv4
        ("64:ff9b::127.0.0.1", False),
        ("64:ff9b::10.0.0.1", False),
        ("64:ff9b::169.254.169.254", False),
        ("2002:808:808::1", True),  # 6to4 of 8.8.8.8
        ("2002:7f00:1::1", False),  # 6to4 of 127.0.0.1
        ("2002:c0a8:101::1", False),  # 6to4 of 192.168.1.1
        # ... or refused whatever they carry.
        ("::8.8.8.8", False),  # IPv4-compatible (deprecated)
        ("::127.0.0.1", False),
        ("::a9fe:a9fe", False),  # IPv4-compatible 169.254.169.254
        ("64:ff9b:1::808:808", False),  # NAT64 local-use: an operator's own translator
        ("::ffff:0:808:808", False),  # SIIT IPv4-translated
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),  # Teredo
        ("fec0::1", False),  # site-local (deprecated)
        ("3fff::1", False),  # documentation (RFC 9637)
        ("5f00::1", False),  # outside global unicast
        ("ff0e::1", False),  # global-scope multicast
    ],
)
def test_addresses(address: str, allowed: bool) -> None:
    assert POLICY.allows_address(address) is allowed


def test_loopback_only_when_allowed() -> None:
    loopback = HostPolicy(("localhost",), allow_loopback=True)
    assert loopback.allows_address("127.0.0.1") and loopback.allows_address("::1")
    assert not loopback.allows_address("10.0.0.1")  # private stays refused


@pytest.mark.parametrize(
    "url",
    [
        "https://www.youtube.com/watch?v=x",
        "https://rr3---sn-4g5e6nzl.googlevideo.com/videoplayback?x=1",
        "http://YouTube.com./x",
    ],
)
def test_urls_on_allowed_hosts_pass(url: str) -> None:
    POLICY.check_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://youtube.com.evil.example/x",
        "https://notyoutube.com/x",
        "ftp://youtube.com/x",
        "file:///etc/passwd",
        "data:text/plain,hi",
        "http://169.254.169.254/latest/meta-data/",
    ],
)
def test_other_urls_are_blocked(url: str) -> None:
    with pytest.raises(BlockedRequestError):
        POLICY.check_url(url)


def test_the_yt_dlp_internals_the_guard_builds_on_are_still_there() -> None:
    # yt-dlp offers no public API for these (see sources/netguard.py); a change to any fails here first.
    def parameters(function: Any) -> list[str]:
        return list(inspect.signature(function).parameters)

    assert "_create_socket_func" in parameters(create_connection)
    assert parameters(_socket_connect) == ["ip_addr", "timeout", "source_address"]
    assert parameters(UrllibRH._create_instance)[:4] == ["self", "proxies", "cookiejar", "legacy_ssl_support"]
    assert parameters(HTTPHandler.do_open)[:3] == ["self", "http_class", "req"]
    redirect = ["self", "req", "fp", "code", "msg", "headers", "newurl"]
    assert parameters(RedirectHandler.redirect_request) == redirect
    # The property we replace is the one urlopen sends through.
    director = inspect.getattr_static(yt_dlp.YoutubeDL, "_request_director")
    assert isinstance(director, functools.cached_property)
    assert "self._request_director.send(" in inspect.getsource(yt_dlp.YoutubeDL.urlopen)
    assert hasattr(http.client.HTTPConnection("example.com"), "_create_connection")


def test_an_opener_the_guard_cannot_check_sends_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    # As if yt-dlp built its opener from another redirect class: no request goes out unchecked.
    monkeypatch.setattr(netguard, "RedirectHandler", type("OtherRedirectHandler", (RedirectHandler,), {}))
    with guarded_ydl({"quiet": True}, POLICY) as ydl:
        with pytest.raises(BlockedRequestError, match="opener changed"):
            ydl.urlopen(Request("https://www.youtube.com/"))


def test_guarded_ydl_sends_everything_through_the_guarded_handler() -> None:
    # yt-dlp's private networking classes we build on: if they change, this fails before users notice.
    with guarded_ydl({"quiet": True}, POLICY) as ydl:
        assert list(ydl._request_director.handlers) == ["GuardedUrllib"]
        with pytest.raises(BlockedRequestError, match=r"elsewhere\.example"):
            ydl.urlopen(Request("https://elsewhere.example/"))


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_connections_to_refused_addresses_stop_before_connecting(scheme: str) -> None:
    # "localhost" passes the host check; its address (loopback) is refused when the socket would connect.
    with guarded_ydl({"quiet": True}, HostPolicy(("localhost",))) as ydl:
        with pytest.raises(BlockedRequestError, match="connection to a refused address"):
            ydl.urlopen(Request(f"{scheme}://localhost:9/"))


# Names whose DNS answers embed private IPv4 addresses: the check is on the address the socket would use.
RESOLVED = {
    "mapped.example": "::ffff:10.0.0.1",
    "nat64.example": "64:ff9b::7f00:1",
    "nat64-local.example": "64:ff9b:1::a00:1",
    "sixtofour.example": "2002:a9fe:a9fe::1",
    "compatible.example": "::169.254.169.254",
    "teredo.example": "2001:0:4136:e378:8000:63bf:3fff:fdd2",
}


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Answer the names in RESOLVED with their IPv6 address (AAAA only); others as the system does."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        if host in RESOLVED:
            return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (RESOLVED[host], int(port), 0, 0))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.mark.usefixtures("fake_dns")
@pytest.mark.parametrize("name", sorted(RESOLVED))
def test_names_resolving_to_embedded_private_addresses_are_refused_at_connect(name: str) -> None:
    # Had the guard let it through, the socket would try the address: "Network is unreachable", not this.
    with guarded_ydl({"quiet": True}, HostPolicy(("example",))) as ydl:
        with pytest.raises(BlockedRequestError, match=f"connection to a refused address: {RESOLVED[name]}"):
            ydl.urlopen(Request(f"http://{name}:9/"))


# Proxies --------------------------------------------------------------------------------------------------

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


@pytest.fixture
def media() -> Iterator[MediaServer]:
    with MediaServer() as server:
        server.add("page.txt", b"hello", "text/plain")
        yield server


@pytest.mark.parametrize("scheme", ["http", "socks5", "socks5h", "socks4"])
def test_proxies_from_the_environment_are_never_used(
    media: MediaServer, monkeypatch: pytest.MonkeyPatch, scheme: str
) -> None:
    # Through a proxy the connect check would see the proxy's address, and the proxy goes anywhere.
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with RecordingProxy() as proxy:
        for variable in PROXY_VARIABLES:
            monkeypatch.setenv(variable, proxy.url(scheme))
        with guarded_ydl({"quiet": True}, HostPolicy(("127.0.0.1",), allow_loopback=True)) as ydl:
            assert ydl.urlopen(Request(media.url("page.txt"))).read() == b"hello"
        assert proxy.connections == 0
    assert media.hits("page.txt") == 1  # fetched directly


def test_a_request_naming_its_own_proxy_is_refused(media: MediaServer) -> None:
    with RecordingProxy() as proxy:
        with guarded_ydl({"quiet": True}, HostPolicy(("127.0.0.1",), allow_loopback=True)) as ydl:
            request = Request(media.url("page.txt"), proxies={"all": proxy.url("socks5")})
            with pytest.raises(BlockedRequestError, match="request through a proxy"):
                ydl.urlopen(request)
        assert proxy.connections == 0
    assert media.hits("page.txt") == 0
