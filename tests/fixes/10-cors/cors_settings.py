"""10 origin-battery, preflight, browser-exploit: wrong and right CORSMiddleware settings."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from tests.fixes.corpus import Fixes, right, wrong

PRODUCTION = "https://app.example.com"


def _settings(trusted: Sequence[str], **changes: Any) -> dict[str, Any]:
    """The settings the notebook asks for, with ``changes``."""
    return {
        "allow_origins": list(trusted),
        "allow_credentials": True,
        "allow_methods": ["GET", "PUT"],
        "allow_headers": ["Content-Type", "Authorization"],
        "max_age": 600,
        **changes,
    }


# -- origin-battery ----------------------------------------------------------------------
@wrong("origin-battery", breaks="only-trusted", also=("browser-exploit",))
def star_with_credentials() -> Fixes:
    """allow_origins=['*'] with credentials: Starlette reflects every origin, null included."""
    return {"cors_settings": lambda trusted: _settings(trusted, allow_origins=["*"])}


@wrong("origin-battery", breaks="only-trusted", also=("browser-exploit", "verify"))
def any_subdomain_regex() -> Fixes:
    """The issue's example: the list plus allow_origin_regex for any subdomain of example.com."""
    return {
        "cors_settings": lambda trusted: _settings(
            trusted, allow_origin_regex=r"https://[a-z0-9-]+\.example\.com"
        )
    }


@wrong("origin-battery", breaks="only-trusted")
def unescaped_regex() -> Fixes:
    """allow_origin_regex=r'https://app.example.com': its dots match any character."""
    return {
        "cors_settings": lambda trusted: _settings(
            trusted, allow_origin_regex=r"https://app.example.com"
        )
    }


@wrong("origin-battery", breaks="only-trusted")
def extra_origins() -> Fixes:
    """The issue's example: the list, plus the admin site and a dev server 'for now'."""
    return {
        "cors_settings": lambda trusted: _settings(
            [*trusted, "https://admin.example.com", "http://localhost:3000"]
        )
    }


@wrong("origin-battery", breaks="only-trusted")
def trusts_null() -> Fixes:
    """'null' added for local files and embedded widgets."""
    return {"cors_settings": lambda trusted: _settings([*trusted, "null"])}


@wrong("origin-battery", breaks="only-trusted")
def http_twin_of_each_origin() -> Fixes:
    """Each trusted origin also over the other scheme 'in case someone types http'."""

    def cors_settings(trusted: list[str]) -> dict[str, Any]:
        twins = [o.replace("https://", "http://", 1) for o in trusted if o.startswith("https")]
        return _settings([*trusted, *twins])

    return {"cors_settings": cors_settings}


@wrong("origin-battery", breaks="only-trusted")
def any_local_port() -> Fixes:
    """Any port on 127.0.0.1 by regex, 'the frontend's port changes every run'."""
    return {
        "cors_settings": lambda trusted: _settings(
            trusted, allow_origin_regex=r"http://127\.0\.0\.1:\d+"
        )
    }


@wrong("origin-battery", breaks="trusted-allowed", also=("verify",))
def production_origin_only() -> Fixes:
    """The argument ignored: only https://app.example.com, written into the code."""
    return {"cors_settings": lambda trusted: _settings([PRODUCTION])}


@wrong("origin-battery", breaks="trusted-allowed")
def trailing_slashes() -> Fixes:
    """Origins 'normalized' with a trailing slash: no browser sends one, nothing matches."""
    return {"cors_settings": lambda trusted: _settings([o.rstrip("/") + "/" for o in trusted])}


@wrong("origin-battery", breaks="credentials")
def no_credentials() -> Fixes:
    """allow_credentials left False: no cookie, no account for the frontend."""
    return {"cors_settings": lambda trusted: _settings(trusted, allow_credentials=False)}


@right("origin-battery", also=("preflight", "browser-exploit", "verify"))
def tuple_and_no_preflight_cache() -> Fixes:
    """The issue's right fix that failed: tuples everywhere and max_age=0 (no caching)."""
    return {
        "cors_settings": lambda trusted: {
            "allow_origins": tuple(trusted),
            "allow_credentials": True,
            "allow_methods": ("GET", "PUT"),
            "allow_headers": ("Content-Type", "Authorization"),
            "max_age": 0,
        }
    }


@right("origin-battery", also=("verify",))
def escaped_anchored_regex() -> Fixes:
    """No list at all: one regex of the escaped trusted origins (Starlette uses fullmatch)."""

    def cors_settings(trusted: list[str]) -> dict[str, Any]:
        pattern = "|".join(re.escape(origin) for origin in trusted)
        return _settings([], allow_origin_regex=pattern)

    return {"cors_settings": cors_settings}


class CorsPolicy:
    """A policy object: origins kept as a frozenset, methods and headers lower case."""

    methods = ("GET", "HEAD", "PUT")
    headers = ("content-type",)
    cache_s = 7200

    def __init__(self, origins: frozenset[str]) -> None:
        self.origins = origins

    def kwargs(self) -> dict[str, Any]:
        return {
            "allow_origins": self.origins,
            "allow_credentials": True,
            "allow_methods": self.methods,
            "allow_headers": self.headers,
            "max_age": self.cache_s,
        }


@right("origin-battery", also=("preflight", "browser-exploit"))
def policy_object() -> Fixes:
    """CorsPolicy(frozenset(...)).kwargs(): HEAD too, Content-Type only, a 2-hour cache."""
    return {"cors_settings": lambda trusted: CorsPolicy(frozenset(trusted)).kwargs()}


# -- preflight ---------------------------------------------------------------------------
@wrong("preflight", breaks="preflight-put", also=("verify",))
def put_forgotten() -> Fixes:
    """allow_methods=['GET']: the frontend's save is refused at its preflight."""
    return {"cors_settings": lambda trusted: _settings(trusted, allow_methods=["GET"])}


@wrong("preflight", breaks="methods-limited")
def every_method() -> Fixes:
    """allow_methods=['*']: DELETE and PATCH from any trusted page."""
    return {"cors_settings": lambda trusted: _settings(trusted, allow_methods=["*"])}


@wrong("preflight", breaks="methods-limited")
def the_seeds_method_list() -> Fixes:
    """The seed's list: GET, POST, PUT, PATCH, DELETE — more than the API serves."""
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    return {"cors_settings": lambda trusted: _settings(trusted, allow_methods=methods)}


@wrong("preflight", breaks="headers-limited")
def every_header() -> Fixes:
    """allow_headers=['*']: any header is mirrored back."""
    return {"cors_settings": lambda trusted: _settings(trusted, allow_headers=["*"])}


@wrong("preflight", breaks="headers-limited")
def the_usual_extra_headers() -> Fixes:
    """X-Requested-With and X-HTTP-Method-Override added 'for the old jQuery client'."""
    headers = ["Content-Type", "Authorization", "X-Requested-With", "X-HTTP-Method-Override"]
    return {"cors_settings": lambda trusted: _settings(trusted, allow_headers=headers)}


@wrong("preflight", breaks="max-age")
def year_long_cache() -> Fixes:
    """max_age of a year: more than any browser honours."""
    return {"cors_settings": lambda trusted: _settings(trusted, max_age=31_536_000)}


@wrong("preflight", breaks="max-age")
def negative_cache() -> Fixes:
    """max_age=-1 'to disable caching': not a number of seconds, browsers ignore it."""
    return {"cors_settings": lambda trusted: _settings(trusted, max_age=-1)}


# -- browser-exploit ---------------------------------------------------------------------
@wrong("browser-exploit", breaks="frontend-works", also=("verify",))
def starlette_defaults() -> Fixes:
    """Only the list and credentials: Starlette's defaults allow GET only, the frontend's PUT
    fails in the browser."""
    return {
        "cors_settings": lambda trusted: {"allow_origins": list(trusted), "allow_credentials": True}
    }


@wrong("browser-exploit", breaks="frontend-works")
def cookies_off_in_the_browser() -> Fixes:
    """Credentials off: the browser withholds the frontend's own account."""
    return {"cors_settings": lambda trusted: _settings(trusted, allow_credentials=False)}


@wrong("origin-battery", breaks="no-crash")
def unbalanced_regex() -> Fixes:
    """A hand-typed allow_origin_regex with an unbalanced parenthesis: CORSMiddleware cannot
    compile it, so the app cannot start its policy (every request answers 500)."""
    return {
        "cors_settings": lambda trusted: _settings(
            trusted, allow_origin_regex=r"https://(app|admin\.example\.com"
        )
    }
