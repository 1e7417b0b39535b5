"""The request guard: which hosts and addresses yt-dlp may reach (end to end in tests/test_youtube.py)."""

from __future__ import annotations

import pytest
from yt_dlp.networking import Request

from sources.netguard import BlockedRequestError, HostPolicy, guarded_ydl

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
