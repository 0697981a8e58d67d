"""The pages every lab app serves to a browser: an index at ``/`` and offline API docs.

Both work behind a path prefix (JupyterHub and Binder serve a sandbox at
``/user/NAME/proxy/PORT/``): every URL in them is relative, and the Swagger UI assets come
from a package (fastapi-offline ships them), not a CDN, so ``/docs`` works offline too.
"""

from __future__ import annotations

import html
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["DOCS_ASSETS", "add_docs", "index_page"]

DOCS_ASSETS = "/_docs"


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
