"""06 update-schema: wrong and right PUT bodies."""

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from tests.fixes.corpus import Fixes, right, sibling, wrong

P = sibling(__file__, "_parts")


class AllowingExtras(BaseModel):
    model_config = ConfigDict(extra="allow")
    title: str | None = Field(default=None, min_length=1, max_length=200)
    body: str | None = Field(default=None, max_length=10_000)


@wrong("update-schema", breaks="no-owner-field", also=("verify",))
def extra_allowed() -> Fixes:
    """extra='allow': unknown fields ride along into model_dump, authorId included."""
    return P.layer(PostUpdate=AllowingExtras)


class IgnoringExtras(BaseModel):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    body: str | None = Field(default=None, max_length=10_000)


@wrong("update-schema", breaks="forbid-extra")
def extra_ignored() -> Fixes:
    """pydantic's default (extra='ignore'): authorId is dropped silently, the PUT says 200."""
    return P.layer(PostUpdate=IgnoringExtras)


class ListingTheAuthor(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(default=None, min_length=1, max_length=200)
    body: str | None = Field(default=None, max_length=10_000)
    authorId: int | None = None  # "the editor UI sends it back anyway"


@wrong("update-schema", breaks="no-owner-field")
def author_listed_as_a_field() -> Fixes:
    """extra='forbid', but authorId is one of the listed fields."""
    return P.layer(PostUpdate=ListingTheAuthor)


class WithoutLimits(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = None
    body: str | None = None


@wrong("update-schema", breaks="field-limits")
def no_length_limits() -> Fixes:
    """Only the field names: an empty or 201-character title and a huge body go through."""
    return P.layer(PostUpdate=WithoutLimits)


class LimitsOffByOne(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(default=None, min_length=1, max_length=255)
    body: str | None = Field(default=None, max_length=10_000)


@wrong("update-schema", breaks="field-limits")
def title_up_to_255() -> Fixes:
    """A VARCHAR(255) habit: the title may be 255 characters instead of 200."""
    return P.layer(PostUpdate=LimitsOffByOne)


class AnyTypes(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: Any = Field(default=None, min_length=1, max_length=200)
    body: Any = None


@wrong("update-schema", breaks="field-limits")
def untyped_fields() -> Fixes:
    """Fields typed Any: a number, a boolean or a list is written into the post."""
    return P.layer(PostUpdate=AnyTypes)


class BothRequired(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(max_length=10_000)


@wrong("update-schema", breaks="partial-update")
def both_fields_required() -> Fixes:
    """title and body required: a PUT that fixes only a typo in the body is a 422."""
    return P.layer(PostUpdate=BothRequired)


Title = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
Text = Annotated[str, StringConstraints(max_length=10_000)]


class Constrained(BaseModel, extra="forbid"):
    title: Title | None = None
    body: Text | None = None


@right("update-schema", also=("verify",))
def annotated_constraints() -> Fixes:
    """StringConstraints in Annotated types, extra='forbid' as a class keyword."""
    return P.layer(PostUpdate=Constrained)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    title: str = Field(default=None, min_length=1, max_length=200)  # type: ignore[assignment]
    body: str = Field(default=None, max_length=10_000)  # type: ignore[assignment]


@right("update-schema")
def strict_frozen_model() -> Fixes:
    """Strict and frozen; null refused outright (the default None is never validated)."""
    return P.layer(PostUpdate=Strict)
