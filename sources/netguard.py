"""Every request yt-dlp makes for us passes one host check, redirects and resolved addresses included.

Checking the link a user pasted is not enough: an allowed page can redirect (HTTP 3xx) anywhere, and a
name on an allowed list can resolve to a private address. So :func:`guarded_ydl` builds a ``YoutubeDL``
whose only request handler is yt-dlp's own urllib handler with three checks added:

- each request's URL, before it is sent (this covers the URLs extractors and downloaders ask for);
- each redirect target, before it is followed (urllib follows 3xx inside one ``open`` call);
- each IP address, just before the socket connects to it: after DNS, so a name cannot smuggle in a
  private address, and on the address actually used, so there is no gap between check and use.

No proxy is ever used, not even one from the environment: through a proxy the address checked would be
the proxy's, and the proxy would go wherever the request says.

yt-dlp's other handlers (requests, curl_cffi, websockets) are left out: YouTube works over urllib, and
one handler means one place to guard. yt-dlp has no public API for any of this: its public pieces
(``Request``, ``RequestHandler``, ``build_request_director``) cannot reach a redirect or a socket. So the
guard builds on private names: the urllib handler and its opener's classes
(``yt_dlp.networking._urllib``), the connect loop (``_helper.create_connection``, ``_socket_connect``),
``YoutubeDL._request_director`` and http.client's ``_create_connection``. tests/test_netguard.py pins
each of them, and where a change could still slip past, the guard refuses requests instead of sending
them unchecked.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import yt_dlp
from yt_dlp.networking._helper import _socket_connect, create_connection
from yt_dlp.networking._urllib import HTTPHandler, RedirectHandler, UrllibRH  # private: see the docstring
from yt_dlp.networking.exceptions import TransportError


class BlockedRequestError(TransportError):
    """yt-dlp was about to contact a host or address we do not allow.

    A TransportError: yt-dlp's request director re-raises it as it is (another exception type would be
    logged as a yt-dlp bug and hidden inside NoSupportingHandlers), extractors report it as a network
    failure, and it is not an OSError, so the connection loop stops at the first refused address.
    """


@dataclass(frozen=True)
class HostPolicy:
    """Which hosts yt-dlp may contact, and whether loopback addresses are allowed (tests only)."""

    hosts: tuple[str, ...]
    allow_loopback: bool = False

    def allows_host(self, host: str) -> bool:
        """True when ``host`` is one of ``hosts`` or a subdomain of one (case and a final dot ignored).

        Parameters
        ----------
        host : str
            A host name or IP address literal.

        Returns
        -------
        bool
            Whether requests to ``host`` are allowed.
        """
        host = host.lower().rstrip(".")
        return any(host == allowed or host.endswith("." + allowed) for allowed in self.hosts)

    def allows_address(self, address: str) -> bool:
        """False for loopback (unless allowed), private, link-local, multicast, reserved, unspecified IPs.

        An IPv6 address must be global unicast (``2000::/3``); the forms that carry an IPv4 address
        for the kernel or a translator to reach (IPv4-mapped, NAT64, 6to4) are judged by that address.

        Parameters
        ----------
        address : str
            An IPv4 or IPv6 address, possibly with a ``%zone`` suffix.

        Returns
        -------
        bool
            Whether a connection to ``address`` is allowed.

        Raises
        ------
        ValueError
            ``address`` is not an IP address.
        """
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # the kernel connects to the IPv4 address itself
        if ip.is_loopback:
            return self.allow_loopback
        if isinstance(ip, ipaddress.IPv6Address):
            return _global_ipv6(ip)
        return _global_ipv4(ip)

    def check_url(self, url: str) -> None:
        """Raise BlockedRequestError unless ``url`` is http(s) on an allowed host (and not a refused IP).

        Parameters
        ----------
        url : str
            The URL about to be requested.

        Raises
        ------
        BlockedRequestError
            The scheme is not http(s), the host is not allowed, or the host is a refused IP address.
        """
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.scheme.lower() not in ("http", "https") or not self.allows_host(host):
            raise BlockedRequestError(f"request to a host that is not allowed: {host or url[:80]!r}")
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return  # a name: its addresses are checked when the socket connects
        if not self.allows_address(host):
            raise BlockedRequestError(f"request to a refused address: {host}")


# RFC 6052's well-known NAT64 prefix: a translator connects to the IPv4 address in the last 32 bits.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# The only IPv6 space IANA allocates for global unicast. NAT64 aside, everything outside it is refused
# outright, also what Python 3.11 calls global there: IPv4-compatible ::a.b.c.d (deprecated by RFC 4291;
# some stacks still route it to the IPv4 address), NAT64's local-use 64:ff9b:1::/48 (an operator's own
# translator, which places the IPv4 address by its prefix length), SIIT's ::ffff:0:a.b.c.d, site-local.
_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_DOCUMENTATION = ipaddress.IPv6Network("3fff::/20")  # RFC 9637 (2024): Python 3.11 calls it global


def _global_ipv4(ip: ipaddress.IPv4Address) -> bool:
    # is_global is False for private, link-local, shared (CGNAT), reserved and unspecified ranges.
    return ip.is_global and not ip.is_multicast


def _global_ipv6(ip: ipaddress.IPv6Address) -> bool:
    # NAT64 and 6to4 (2002::/16) addresses are judged by the IPv4 address they lead to rather than
    # refused: on an IPv6-only host behind DNS64 every IPv4-only name resolves into 64:ff9b::/96. Teredo
    # (2001::/32) hides its client address and is refused by is_global (2001::/23 is IETF protocol space).
    if ip in _NAT64:
        return _global_ipv4(ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF))
    if ip.sixtofour is not None:
        return _global_ipv4(ip.sixtofour)
    return ip in _GLOBAL_UNICAST and ip not in _DOCUMENTATION and ip.is_global


def guarded_ydl(params: dict[str, Any], policy: HostPolicy) -> yt_dlp.YoutubeDL:
    """A ``YoutubeDL`` with ``params`` whose every request, redirect and connection obeys ``policy``.

    Parameters
    ----------
    params : dict[str, Any]
        ``YoutubeDL`` parameters (see :func:`sources.youtube.ydl_params`).
    policy : HostPolicy
        Hosts and addresses allowed.

    Returns
    -------
    yt_dlp.YoutubeDL
        A downloader whose requests raise BlockedRequestError when the policy refuses them. It never
        uses a proxy: ``HTTP(S)_PROXY``, ``ALL_PROXY`` and the like are ignored.
    """
    return _GuardedYoutubeDL(params, policy)


class _GuardedYoutubeDL(yt_dlp.YoutubeDL):
    def __init__(self, params: dict[str, Any], policy: HostPolicy) -> None:
        self._policy = policy
        # Through a proxy the socket connects to the proxy, not to the address checked, and the proxy
        # (a SOCKS one resolves names itself) goes wherever the request says. "" is yt-dlp's "no proxy";
        # without it yt-dlp takes one from the environment.
        super().__init__({**params, "proxy": ""})

    @functools.cached_property
    def _request_director(self) -> Any:
        director = self.build_request_director([GuardedUrllibRH])
        for handler in director.handlers.values():
            handler.policy = self._policy
        return director


class GuardedUrllibRH(UrllibRH):
    """yt-dlp's urllib handler with the policy's checks on requests, redirects and connections."""

    policy: HostPolicy

    def _send(self, request: Any) -> Any:
        self.policy.check_url(request.url)
        # A request may still name its own proxy (extractors pass a geo-verification proxy that way).
        if any(url for key, url in (request.proxies or self.proxies).items() if key != "no"):
            raise BlockedRequestError(f"request through a proxy: {request.url[:80]!r}")
        return super()._send(request)

    def _create_instance(self, proxies: Any, cookiejar: Any, legacy_ssl_support: Any = None) -> Any:
        opener = super()._create_instance(proxies, cookiejar, legacy_ssl_support)
        # Swap the classes of yt-dlp's own handler instances for subclasses that add the checks: the
        # opener looks methods up by name at call time, and yt-dlp's construction code stays its own.
        swapped: set[type] = set()
        for handler in opener.handlers:
            if type(handler) is RedirectHandler:
                handler.__class__ = _GuardedRedirectHandler
                swapped.add(RedirectHandler)
            elif type(handler) is HTTPHandler:
                handler.__class__ = _GuardedHTTPHandler
                swapped.add(HTTPHandler)
            handler.policy = self.policy
        if swapped != {RedirectHandler, HTTPHandler}:  # yt-dlp builds its opener otherwise now
            raise BlockedRequestError("yt-dlp's urllib opener changed: the request guard cannot check it")
        return opener


class _GuardedRedirectHandler(RedirectHandler):
    policy: HostPolicy

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        self.policy.check_url(newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class _GuardedHTTPHandler(HTTPHandler):
    policy: HostPolicy

    def do_open(self, http_class: Callable[..., Any], req: Any, **kwargs: Any) -> Any:
        def make_connection(*args: Any, **kw: Any) -> Any:
            connection = http_class(*args, **kw)
            if not hasattr(connection, "_create_connection"):  # http.client's hook, as yt-dlp uses it
                raise BlockedRequestError("http.client changed: the request guard cannot check connections")
            connect = functools.partial(create_connection, _create_socket_func=self._connect)
            connection._create_connection = connect
            return connection

        return super().do_open(make_connection, req, **kwargs)

    def _connect(self, ip_addr: tuple[Any, ...], timeout: Any, source_address: Any) -> socket.socket:
        """Connect to one address getaddrinfo gave, unless the policy refuses it."""
        address = ip_addr[4][0]
        if not self.policy.allows_address(address):
            raise BlockedRequestError(f"connection to a refused address: {address}")
        return _socket_connect(ip_addr, timeout, source_address)
