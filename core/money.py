"""Money is an integer count of minor units plus an ISO 4217 currency code."""

from __future__ import annotations

from typing import Annotated

import pycountry
from pydantic import AfterValidator, Field

# Upper bound for any single price or stock figure: keeps totals far from 64-bit overflow.
MAX_MINOR_UNITS = 100_000_000_00
MAX_STOCK = 1_000_000
# ISO 4217 codes that name no spendable currency: "no currency" and the testing code.
_NOT_MONEY = frozenset({"XXX", "XTS"})


def _currency(code: str) -> str:
    if len(code) != 3 or not code.isascii() or not code.isupper():
        raise ValueError("currency must be a three-letter ISO 4217 code such as EUR")
    if code in _NOT_MONEY or pycountry.currencies.get(alpha_3=code) is None:
        raise ValueError(f"unknown ISO 4217 currency code {code!r}")
    return code


def is_currency(code: str) -> bool:
    try:
        _currency(code)
    except ValueError:
        return False
    return True


Currency = Annotated[str, AfterValidator(_currency)]
MinorUnits = Annotated[int, Field(ge=0, le=MAX_MINOR_UNITS, strict=True)]
Stock = Annotated[int, Field(ge=0, le=MAX_STOCK, strict=True)]
