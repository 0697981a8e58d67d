"""What the socket says about a request: the scheme it arrived on and the peer's address.

Labs about proxies (09, 11, 13) must not believe ``X-Forwarded-*`` from an ordinary client.
uvicorn's ``proxy_headers`` are off in every sandbox; this module also undoes the one
rewrite left (a loopback peer named in its own ``X-Forwarded-For``) and reads the scheme
from the listening port, so an app sees exactly what a TLS-terminating load balancer would
have to vouch for.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request

from labkit.sandbox.apps.base import LabState

__all__ = ["connection", "host_only"]


def host_only(entry: str) -> str:
    """``"[::1]:80"`` -> ``"::1"``, ``"10.0.0.1:80"`` -> ``"10.0.0.1"`` (as uvicorn parses)."""
    entry = entry.strip()
    if entry.startswith("[") and "]" in entry:
        return entry[1 : entry.index("]")]
    return entry.split(":")[0] if entry.count(":") == 1 else entry


def connection(request: Request, state: LabState) -> tuple[str, str]:
    """``(scheme, peer)`` as the socket saw them.

    The scheme comes from the listening port (``https`` on the lab's TLS listener, the
    ``"main"`` URL of an app with ``state.tls``); a client address taken from
    ``X-Forwarded-For`` is put back to loopback (only a loopback peer is rewritten).
    """
    main = urlsplit(state.urls.get("main", ""))
    server = request.scope.get("server") or ("", 0)
    tls = main.scheme == "https" and server[1] == main.port
    peer = request.client.host if request.client else ""
    forwarded_for = {
        host_only(part)
        for value in request.headers.getlist("x-forwarded-for")
        for part in value.split(",")
    }
    if peer in forwarded_for:  # a real proxy names its client there, never itself
        peer = "127.0.0.1"
    return ("https" if tls else "http"), peer
