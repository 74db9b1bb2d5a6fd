"""Pure catalog rules: SKU uniqueness and turning CSV or JSON imports into validated products.

A CSV import has one row per variant; rows sharing a `handle` form one product, whose fields come
from its first row. Every row is checked and every problem reported, row by row.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from cart.catalog.schemas import ProductIn

CSV_COLUMNS = (
    "handle",
    "title",
    "description",
    "image_url",
    "currency",
    "price",
    "sku",
    "options",
    "variant_price",
    "stock",
)
REQUIRED_COLUMNS = frozenset({"handle", "title", "currency", "price", "sku"})
PRODUCT_FIELDS = ("title", "description", "image_url", "currency", "price")
MAX_IMPORT_ROWS = 5000
_INTEGER = re.compile(r"-?[0-9]{1,18}")  # ASCII digits only: int() refuses some Unicode digits


@dataclass(frozen=True, slots=True)
class RowError:
    row: int  # 1-based data row (the header is row 0); for JSON, the product's index
    field: str | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "message": self.message}


@dataclass(slots=True)
class ParsedImport:
    products: list[ProductIn]
    # For each product, the source row of each of its variants (CSV row, or JSON index).
    rows: list[list[int]]
    errors: list[RowError]


def repeated_skus(skus: Iterable[str]) -> list[tuple[int, str]]:
    """(index, sku) for every SKU seen before it in the sequence."""
    seen: set[str] = set()
    repeats = []
    for i, sku in enumerate(skus):
        if sku in seen:
            repeats.append((i, sku))
        seen.add(sku)
    return repeats


def _errors_of(exc: ValidationError, row: int, prefix: str = "") -> list[RowError]:
    out = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in err["loc"])
        out.append(RowError(row, (prefix + loc) or None, err["msg"]))
    return out


def _int(value: str) -> int | str:
    text = value.strip()
    if _INTEGER.fullmatch(text):
        return int(text)
    return text  # left as text so validation names the field


def parse_options(text: str) -> dict[str, str]:
    """'size=M; colour=Blue' -> {'size': 'M', 'colour': 'Blue'}."""
    options: dict[str, str] = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"option {part.strip()!r} is not name=value")
        if name.strip() in options:
            raise ValueError(f"option {name.strip()!r} is repeated")
        options[name.strip()] = value.strip()
    return options


def parse_csv(text: str) -> ParsedImport:
    reader = csv.DictReader(io.StringIO(text, newline=""), restkey="_extra")
    header = reader.fieldnames or []
    missing = REQUIRED_COLUMNS - set(header)
    unknown = set(header) - set(CSV_COLUMNS)
    if missing or unknown:
        parts = []
        if missing:
            parts.append("missing columns: " + ", ".join(sorted(missing)))
        if unknown:
            parts.append("unknown columns: " + ", ".join(sorted(unknown)))
        return ParsedImport([], [], [RowError(0, None, "; ".join(parts))])

    errors: list[RowError] = []
    groups: dict[str, dict[str, Any]] = {}
    rows_of: dict[str, list[int]] = {}
    try:
        rows = list(reader)
    except csv.Error as exc:
        return ParsedImport([], [], [RowError(reader.line_num, None, f"malformed CSV: {exc}")])
    if not rows:
        return ParsedImport([], [], [RowError(0, None, "no rows to import")])
    if len(rows) > MAX_IMPORT_ROWS:
        return ParsedImport(
            [], [], [RowError(0, None, f"at most {MAX_IMPORT_ROWS} rows per import")]
        )

    for n, row in enumerate(rows, start=1):
        if row.get("_extra") or None in row.values():
            errors.append(RowError(n, None, "row has a different number of cells than the header"))
            continue
        handle = (row.get("handle") or "").strip()
        if not handle:
            errors.append(RowError(n, "handle", "handle is required"))
            continue
        try:
            options = parse_options(row.get("options") or "")
        except ValueError as exc:
            errors.append(RowError(n, "options", str(exc)))
            continue
        variant: dict[str, Any] = {"sku": (row.get("sku") or "").strip(), "options": options}
        if (row.get("variant_price") or "").strip():
            variant["price"] = _int(row["variant_price"])
        if (row.get("stock") or "").strip():
            variant["stock"] = _int(row["stock"])
        product = groups.get(handle)
        if product is None:
            product = {
                "title": row.get("title") or "",
                "description": row.get("description") or "",
                "currency": (row.get("currency") or "").strip(),
                "price": _int(row.get("price") or ""),
                "variants": [],
            }
            if (row.get("image_url") or "").strip():
                product["image_url"] = row["image_url"].strip()
            groups[handle] = product
            rows_of[handle] = []
        product["variants"].append(variant)
        rows_of[handle].append(n)

    products: list[ProductIn] = []
    product_rows: list[list[int]] = []
    for handle, data in groups.items():
        try:
            products.append(ProductIn.model_validate(data))
            product_rows.append(rows_of[handle])
        except ValidationError as exc:
            for err in exc.errors(include_url=False, include_input=False):
                loc = [str(p) for p in err["loc"]]
                line = rows_of[handle][0]
                if loc[:1] == ["variants"] and len(loc) > 1 and loc[1].isdigit():
                    line = rows_of[handle][int(loc[1])]
                    field = "variant_price" if loc[2:3] == ["price"] else ".".join(loc[2:])
                else:
                    field = ".".join(loc)
                errors.append(RowError(line, field or None, err["msg"]))
    errors.extend(_sku_errors(products, product_rows))
    return ParsedImport(products, product_rows, sorted(errors, key=lambda e: e.row))


def _sku_errors(products: Sequence[ProductIn], rows: Sequence[Sequence[int]]) -> list[RowError]:
    # In file order, so the later of two rows is the one reported.
    flat = sorted(
        (r, v.sku)
        for p, p_rows in zip(products, rows, strict=True)
        for r, v in zip(p_rows, p.variants, strict=True)
    )
    return [
        RowError(flat[i][0], "sku", f"SKU {sku!r} is repeated in this import")
        for i, sku in repeated_skus(s for _, s in flat)
    ]


def parse_json_products(items: Sequence[object]) -> ParsedImport:
    products: list[ProductIn] = []
    rows: list[list[int]] = []
    errors: list[RowError] = []
    for i, item in enumerate(items):
        try:
            product = ProductIn.model_validate(item)
        except ValidationError as exc:
            errors.extend(_errors_of(exc, i))
            continue
        products.append(product)
        rows.append([i] * len(product.variants))
    if sum(len(p.variants) for p in products) > MAX_IMPORT_ROWS:
        return ParsedImport(
            [], [], [RowError(0, None, f"at most {MAX_IMPORT_ROWS} variants per import")]
        )
    errors.extend(_sku_errors(products, rows))
    return ParsedImport(products, rows, sorted(errors, key=lambda e: e.row))
