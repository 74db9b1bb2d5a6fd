"""Catalog request bodies.

Strict: wrong types, unknown fields and out-of-range numbers are refused.
"""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    UrlConstraints,
    model_validator,
)

from core.db import MAX_ID
from core.money import Currency, MinorUnits, Stock
from core.text import plain_text

Sku = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-/]{0,63}$")]
OptionName = Annotated[str, plain_text(30)]
OptionValue = Annotated[str, plain_text(60)]
Options = Annotated[dict[OptionName, OptionValue], Field(max_length=5)]
Title = Annotated[str, plain_text(200)]
Description = Annotated[str, plain_text(5000, multiline=True, optional=True)]
# Strict mode wants a URL object; JSON and CSV give strings, so this field alone is lax.
ImageUrl = Annotated[AnyHttpUrl, UrlConstraints(max_length=2048), Field(strict=False)]

MAX_VARIANTS = 100


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class VariantIn(Body):
    sku: Sku
    options: Options = {}
    price: MinorUnits | None = None
    stock: Stock = 0


class ProductIn(Body):
    title: Title
    description: Description = ""
    image_url: ImageUrl | None = None
    currency: Currency
    price: MinorUnits
    variants: Annotated[list[VariantIn], Field(min_length=1, max_length=MAX_VARIANTS)]


class ProductPatch(Body):
    title: Title | None = None
    description: Description | None = None
    image_url: ImageUrl | None = None
    price: MinorUnits | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if not self.model_fields_set:
            raise ValueError("send at least one field to change")
        if "title" in self.model_fields_set and self.title is None:
            raise ValueError("title cannot be null")
        if "price" in self.model_fields_set and self.price is None:
            raise ValueError("price cannot be null")
        if "description" in self.model_fields_set and self.description is None:
            raise ValueError("description cannot be null")
        return self


class VariantPatch(Body):
    sku: Sku | None = None
    options: Options | None = None
    price: MinorUnits | None = None
    stock: Stock | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if not self.model_fields_set:
            raise ValueError("send at least one field to change")
        for name in ("sku", "options", "stock"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class ProductQuery(Body):
    model_config = ConfigDict(extra="forbid", strict=False)

    limit: Annotated[int, Field(ge=1, le=100)] = 50
    after: Annotated[int, Field(ge=0, le=MAX_ID)] = 0


class JsonImport(Body):
    products: Annotated[list[object], Field(min_length=1, max_length=2000)]
