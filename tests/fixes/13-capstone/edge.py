"""13 edge part: CORS (row 4), HTTPS (row 10), length limits (row 12) — wrong fixes a hurried
developer writes, and right ones unlike the reference."""

from collections.abc import Collection, Sequence
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from tests.fixes.corpus import Fixes, right, wrong

HSTS = "max-age=31536000; includeSubDomains"


# -- row 4: CORS -----------------------------------------------------------------------------
def cors_reference(trusted_origins: Sequence[str], **changes: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "allow_origins": list(trusted_origins),
        "allow_credentials": True,
        "allow_methods": ["GET", "PUT"],
        "allow_headers": ["Content-Type", "Authorization"],
        "max_age": 600,
    }
    settings.update(changes)
    return settings


@wrong("fix-cors-wildcard", breaks="exact-origins")
def star_with_credentials() -> Fixes:
    """allow_origins=['*'] with credentials: Starlette reflects every origin."""
    return {"cors_settings": lambda trusted: cors_reference(trusted, allow_origins=["*"])}


@wrong("fix-cors-wildcard", breaks="exact-origins")
def trusts_null() -> Fixes:
    """The frontend plus 'null' 'for the file:// preview': sandboxed pages read the API."""
    return {
        "cors_settings": lambda trusted: cors_reference(trusted, allow_origins=[*trusted, "null"])
    }


@wrong("fix-cors-wildcard", breaks="exact-origins")
def any_subdomain_regex() -> Fixes:
    """allow_origin_regex for 'our subdomains': any *.example.com (and http) reads."""
    return {
        "cors_settings": lambda trusted: cors_reference(
            trusted, allow_origin_regex=r"https?://([a-z0-9-]+\.)*example\.com"
        )
    }


@wrong("fix-cors-wildcard", breaks="exact-origins")
def developer_origin_left_in() -> Fixes:
    """The frontend and the developer's Vite server, http://localhost:5173, left in."""
    return {
        "cors_settings": lambda trusted: cors_reference(
            trusted, allow_origins=[*trusted, "http://localhost:5173"]
        )
    }


@wrong("fix-cors-wildcard", breaks="credentials")
def no_credentials() -> Fixes:
    """The exact list, but allow_credentials=False: the frontend cannot read the account."""
    return {"cors_settings": lambda trusted: cors_reference(trusted, allow_credentials=False)}


@wrong("fix-cors-wildcard", breaks="preflight")
def every_method() -> Fixes:
    """allow_methods=['*']: DELETE and PATCH pass the preflight too."""
    return {"cors_settings": lambda trusted: cors_reference(trusted, allow_methods=["*"])}


class CorsPolicy:
    """A class that builds the settings: a tuple of origins, lower-case headers, one hour."""

    methods = ("PUT", "GET")

    def __call__(self, trusted_origins: Sequence[str]) -> dict[str, Any]:
        return {
            "allow_origins": tuple(trusted_origins),
            "allow_methods": list(self.methods),
            "allow_headers": ["authorization", "content-type"],
            "allow_credentials": True,
            "max_age": 3600,
        }


@right("fix-cors-wildcard")
def policy_class() -> Fixes:
    """A callable class; origins as a tuple, headers in lower case, one hour of cache."""
    return {"cors_settings": CorsPolicy()}


@right("fix-cors-wildcard")
def deduplicated_origins() -> Fixes:
    """The origins de-duplicated and sorted, methods and headers as the frontend needs."""

    def cors_settings(trusted_origins: list[str]) -> dict[str, Any]:
        return dict(
            allow_origins=sorted(set(trusted_origins)),
            allow_credentials=True,
            allow_methods=["GET", "PUT"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=120,
        )

    return {"cors_settings": cors_settings}


# -- row 10: HTTPS ---------------------------------------------------------------------------
def last_value(
    scheme: str, peer: str, forwarded_proto: str | None, trusted_proxies: Collection[str]
) -> str:
    """The reference: the proxy's own (last) value, from the proxy only."""
    if forwarded_proto and peer in trusted_proxies:
        claimed = forwarded_proto.split(",")[-1].strip().lower()
        if claimed in ("http", "https"):
            return claimed
    return scheme


def hsts_on_https(scheme: str) -> dict[str, str]:
    return {"Strict-Transport-Security": HSTS} if scheme == "https" else {}


@wrong("fix-no-https-redirect", breaks="trusted-proxy")
def first_forwarded_value() -> Fixes:
    """From the trusted proxy, but the FIRST value of X-Forwarded-Proto — the one the
    client wrote, not the one the proxy appended."""

    def effective_scheme(
        scheme: str, peer: str, forwarded_proto: str | None, trusted_proxies: Collection[str]
    ) -> str:
        if forwarded_proto and peer in trusted_proxies:
            return forwarded_proto.split(",")[0].strip().lower()
        return scheme

    return {"effective_scheme": effective_scheme, "security_headers": hsts_on_https}


@wrong("fix-no-https-redirect", breaks="trusted-proxy")
def forwarded_from_anyone() -> Fixes:
    """X-Forwarded-Proto believed from every peer: any client says https and is served."""

    def effective_scheme(
        scheme: str, peer: str, forwarded_proto: str | None, trusted_proxies: Collection[str]
    ) -> str:
        return (forwarded_proto or scheme).split(",")[-1].strip().lower()

    return {"effective_scheme": effective_scheme, "security_headers": hsts_on_https}


@wrong("fix-no-https-redirect", breaks="hsts")
def hsts_everywhere() -> Fixes:
    """HSTS on every answer, plain HTTP included (RFC 6797 §7.2 says never there)."""
    return {
        "effective_scheme": last_value,
        "security_headers": lambda scheme: {"Strict-Transport-Security": HSTS},
    }


@wrong("fix-no-https-redirect", breaks="hsts")
def hsts_for_a_day() -> Fixes:
    """HSTS with max-age=86400 'to be safe while testing': under the one-year floor."""
    return {
        "effective_scheme": last_value,
        "security_headers": lambda scheme: (
            {"Strict-Transport-Security": "max-age=86400"} if scheme == "https" else {}
        ),
    }


@wrong("fix-no-https-redirect", breaks="redirect-plain")
def connection_scheme_ignored() -> Fixes:
    """'The load balancer does TLS': https unless the proxy says otherwise."""

    def effective_scheme(
        scheme: str, peer: str, forwarded_proto: str | None, trusted_proxies: Collection[str]
    ) -> str:
        if forwarded_proto and peer in trusted_proxies:
            return forwarded_proto.split(",")[-1].strip().lower()
        return "https"

    return {"effective_scheme": effective_scheme, "security_headers": hsts_on_https}


class SchemePolicy:
    """A class: rpartition for the last value, two years of HSTS with preload."""

    def __init__(self) -> None:
        self.hsts = "max-age=63072000; includeSubDomains; preload"

    def effective_scheme(
        self, scheme: str, peer: str, forwarded_proto: str | None, trusted_proxies: frozenset[str]
    ) -> str:
        if peer not in trusted_proxies or not forwarded_proto:
            return scheme
        value = forwarded_proto.rpartition(",")[2].strip().lower()
        return value if value in {"http", "https"} else scheme

    def security_headers(self, scheme: str) -> dict[str, str]:
        return {"Strict-Transport-Security": self.hsts} if scheme == "https" else {}


@right("fix-no-https-redirect")
def scheme_policy_class() -> Fixes:
    """A class with rpartition and two years of HSTS, preload."""
    policy = SchemePolicy()
    return {
        "effective_scheme": policy.effective_scheme,
        "security_headers": policy.security_headers,
    }


@right("fix-no-https-redirect")
def regex_tokens() -> Fixes:
    """A regex over the header's tokens (the last one wins), HSTS built from constants."""
    import re

    year = 365 * 24 * 3600

    def effective_scheme(
        scheme: str, peer: str, forwarded_proto: str | None, trusted_proxies: Collection[str]
    ) -> str:
        tokens = re.findall(r"[A-Za-z]+", forwarded_proto or "")
        if peer in trusted_proxies and tokens and tokens[-1].lower() in ("http", "https"):
            return tokens[-1].lower()
        return scheme

    def security_headers(scheme: str) -> dict[str, str]:
        if scheme != "https":
            return {}
        return {"Strict-Transport-Security": f"includeSubDomains; max-age={year}"}

    return {"effective_scheme": effective_scheme, "security_headers": security_headers}


# -- row 12: length limits ------------------------------------------------------------------
def flatten(exc: ValidationError) -> dict[str, Any]:
    fields: dict[str, list[str]] = {}
    for error in exc.errors(include_url=False, include_input=False):
        fields.setdefault(str(error["loc"][0]) if error["loc"] else "_", []).append(error["msg"])
    return {"formErrors": fields.pop("_", []), "fieldErrors": fields}


class StrictReview(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True)
    productId: Annotated[int, Field(ge=1)]
    rating: Annotated[int, Field(ge=1, le=5)]
    text: Annotated[str, Field(min_length=1, max_length=2000)]


class LaxReview(BaseModel):
    """No strict mode: '5' becomes 5, 4.0 becomes 4, extra fields are ignored."""

    productId: Annotated[int, Field(ge=1)]
    rating: Annotated[int, Field(ge=1, le=5)]
    text: Annotated[str, Field(min_length=1, max_length=2000)]


class UnboundedReview(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    productId: Annotated[int, Field(ge=1)]
    rating: Annotated[int, Field(ge=1, le=5)]
    text: str


def validator(model: type[BaseModel], clean: Any = None) -> Any:
    def validate_review(data: Any) -> tuple[Any, Any]:
        try:
            review = model.model_validate(data).model_dump()
        except ValidationError as exc:
            return None, flatten(exc)
        return (clean(review) if clean else review), None

    return validate_review


def capped(limit: int) -> Any:
    def body_too_large(content_length: int | None, received: int) -> bool:
        return (content_length or 0) > limit or received > limit

    return body_too_large


@wrong("fix-no-length-limits", breaks="text-length")
def schema_without_lengths() -> Fixes:
    """Types and range checked, but the text has no length limit."""
    return {"validate_review": validator(UnboundedReview), "body_too_large": capped(64 * 1024)}


@wrong("fix-no-length-limits", breaks="review-schema")
def coercing_schema() -> Fixes:
    """pydantic's default (lax) mode: rating '5' and 4.0 are coerced, extra fields dropped."""
    return {"validate_review": validator(LaxReview), "body_too_large": capped(64 * 1024)}


@wrong("fix-no-length-limits", breaks="body-cap")
def no_body_cap() -> Fixes:
    """The schema, and no cap on the body: a 5 MB upload is read to the end."""
    return {"validate_review": validator(StrictReview), "body_too_large": lambda cl, got: False}


@wrong("fix-no-length-limits", breaks="body-cap")
def content_length_trusted() -> Fixes:
    """Only the declared Content-Length is checked: a chunked body declares none."""
    return {
        "validate_review": validator(StrictReview),
        "body_too_large": lambda content_length, received: (content_length or 0) > 64 * 1024,
    }


@wrong("fix-no-length-limits", breaks="body-cap")
def cap_too_tight() -> Fixes:
    """A 4 KiB cap: a legitimate review body of 16 KiB (long text, escaped emoji) fails."""
    return {"validate_review": validator(StrictReview), "body_too_large": capped(4 * 1024)}


@wrong("fix-no-length-limits", breaks="reviews-work")
def html_escaped_on_input() -> Fixes:
    """'Sanitises' the text with html.escape before storing: O'Brien's becomes
    O&#x27;Brien&#x27;s (escape on output, where the context is known)."""
    import html

    def clean(review: dict[str, Any]) -> dict[str, Any]:
        return {**review, "text": html.escape(review["text"])}

    return {"validate_review": validator(StrictReview, clean), "body_too_large": capped(65536)}


def hand_written_validation(data: Any) -> tuple[Any, Any]:
    """No pydantic: every rule of the schema written out, zod-style errors."""
    errors: dict[str, list[str]] = {}
    if not isinstance(data, dict):
        return None, {"formErrors": ["expected an object"], "fieldErrors": {}}
    for extra in sorted(set(data) - {"productId", "rating", "text"}):
        errors.setdefault(extra, []).append("unexpected field")
    product, rating, text = data.get("productId"), data.get("rating"), data.get("text")
    if type(product) is not int or product < 1:
        errors.setdefault("productId", []).append("expected an integer >= 1")
    if type(rating) is not int or not 1 <= rating <= 5:
        errors.setdefault("rating", []).append("expected an integer from 1 to 5")
    if not isinstance(text, str) or not 1 <= len(text.strip()) <= 2000:
        errors.setdefault("text", []).append("expected 1 to 2000 characters")
    if errors:
        return None, {"formErrors": [], "fieldErrors": errors}
    return {"productId": product, "rating": rating, "text": text.strip()}, None


@right("fix-no-length-limits")
def hand_written_with_32_kib_cap() -> Fixes:
    """Validation written out by hand, and a 32 KiB body cap (it fits every valid review)."""
    return {"validate_review": hand_written_validation, "body_too_large": capped(32 * 1024)}


class StrictFields(BaseModel):
    model_config = ConfigDict(extra="forbid")
    productId: Annotated[StrictInt, Field(gt=0)]
    rating: Annotated[StrictInt, Field(ge=1, le=5)]
    text: Annotated[StrictStr, Field(min_length=1, max_length=2000)]


@right("fix-no-length-limits")
def strict_types_with_1_mib_cap() -> Fixes:
    """StrictInt/StrictStr fields (not model-wide strict), stripping by hand, a 1 MiB cap."""

    def validate_review(data: Any) -> tuple[Any, Any]:
        if isinstance(data, dict) and isinstance(data.get("text"), str):
            data = {**data, "text": data["text"].strip()}
        try:
            return StrictFields.model_validate(data).model_dump(), None
        except ValidationError as exc:
            return None, flatten(exc)

    return {"validate_review": validate_review, "body_too_large": capped(1024 * 1024)}
