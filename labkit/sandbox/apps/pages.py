"""The pages every lab app serves to a browser: an index at ``/`` and offline API docs, and
what every lab page needs to work — and stay harmless — behind a proxy prefix.

JupyterHub and Binder serve a sandbox through jupyter-server-proxy at
``/user/NAME/proxy/PORT/``, i.e. on JupyterLab's own origin. So every URL in a lab page is
relative (the Swagger UI assets come from a package, fastapi-offline, not a CDN), a link to
another app of the lab goes through the same proxy (:func:`browser_link`), and a page that
carries attacker or learner HTML (an XSS lesson) is served there in a CSP sandbox
(:func:`planted_page`): an opaque origin, so a planted script cannot call the Jupyter REST
API with the learner's cookies. On the sandbox's own loopback origin, where the browser
lessons run, the page is served unchanged.
"""

from __future__ import annotations

import html
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.requests import HTTPConnection

__all__ = [
    "DOCS_ASSETS",
    "PLANTED_CSP",
    "add_docs",
    "browser_link",
    "index_page",
    "planted_page",
    "proxy_context",
    "served_directly",
]

DOCS_ASSETS = "/_docs"
#: A page that carries planted HTML, when it is not on the sandbox's own origin: scripts,
#: forms and alert() run (the XSS still shows), in an opaque origin (no ``allow-same-origin``),
#: so nothing it fetches from the proxy's origin (JupyterLab's) can be read, and no cookie of
#: that origin is readable (``document.cookie`` throws).
PLANTED_CSP = "sandbox allow-scripts allow-forms allow-modals"
#: Headers jupyter-server-proxy sets on every request it forwards (over what the browser sent).
#: A direct client may send them too: it only gets itself the sandbox.
_PROXY_HEADERS = ("x-forwarded-context", "x-proxycontextpath", "x-forwarded-prefix")


def _swagger_assets() -> Path:
    import fastapi_offline

    return Path(fastapi_offline.__file__).parent / "static"


def add_docs(app: FastAPI) -> None:
    """``/docs``: Swagger UI from packaged assets, every URL relative to the page."""
    app.mount(DOCS_ASSETS, StaticFiles(directory=_swagger_assets()), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        # relative to /docs: works at / and under any proxy prefix alike
        return get_swagger_ui_html(
            openapi_url="openapi.json",
            title=f"{app.title} - API docs",
            swagger_js_url=f"{DOCS_ASSETS.lstrip('/')}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS.lstrip('/')}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS.lstrip('/')}/favicon.png",
        )


def index_page(app: FastAPI, request: Request) -> HTMLResponse:
    """What ``/`` shows in an app that has no page of its own: its title, a link to the API
    docs and its documented routes."""
    routes = [
        f"<li><code>{html.escape(method.upper())} {html.escape(path)}</code></li>"
        for path, operations in sorted(app.openapi().get("paths", {}).items())
        for method in operations
        if method in ("get", "post", "put", "patch", "delete")
    ]
    return HTMLResponse(
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(app.title)}</title></head><body>"
        f"<h1>{html.escape(app.title)}</h1>"
        "<p>A labkit sandbox. Try the routes from the <a href='docs'>API docs</a>, or from "
        "your notebook with <code>lab.client</code>.</p>"
        f"<ul>{''.join(routes)}</ul></body></html>"
    )


def proxy_context(request: HTTPConnection) -> str | None:
    """The path jupyter-server-proxy serves this app under (``/user/NAME/proxy/PORT``), from
    the ``X-Forwarded-Context`` it sets on every request it forwards; None when direct."""
    for name in _PROXY_HEADERS:
        value = request.headers.get(name)
        if value:
            return value.rstrip("/")
    return None


def served_directly(request: HTTPConnection) -> bool:
    """True when the browser asked the sandbox itself: no proxy header, and the ``Host`` it
    sent names the port the sandbox listens on (``127.0.0.1:PORT``, ``localhost:PORT``).
    A proxy (jupyter-server-proxy passes the browser's ``Host`` on) never passes this test."""
    if proxy_context(request) is not None:
        return False
    server = request.scope.get("server")
    host = request.headers.get("host", "")
    port = host.rsplit(":", 1)[1] if ":" in host.rsplit("]", 1)[-1] else ""
    return bool(server) and port == str(server[1])


def planted_page(request: HTTPConnection, content: str, status: int = 200) -> HTMLResponse:
    """An HTML page that carries attacker or learner HTML: as is on the sandbox's own origin,
    under ``Content-Security-Policy: sandbox`` (:data:`PLANTED_CSP`) anywhere else."""
    headers = {} if served_directly(request) else {"Content-Security-Policy": PLANTED_CSP}
    return HTMLResponse(content, status_code=status, headers=headers)


def browser_link(request: HTTPConnection, url: str) -> str:
    """``url`` (another app of the lab, ``http://127.0.0.1:PORT/path``) as the browser that
    sent ``request`` reaches it: through the same proxy when the request came through one
    (``/user/NAME/proxy/PORT/path``), else unchanged."""
    context = proxy_context(request)
    parts = urlsplit(url)
    if context is None or parts.port is None or parts.scheme != "http":
        return url
    base = context.rsplit("/", 1)[0]
    query = f"?{parts.query}" if parts.query else ""
    return f"{base}/{parts.port}{parts.path or '/'}{query}"
