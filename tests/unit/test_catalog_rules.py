"""Catalog import rules: CSV and JSON imports, options text and SKU repeats."""

from __future__ import annotations

from typing import Any

import pytest

from cart.catalog.rules import (
    MAX_IMPORT_ROWS,
    ParsedImport,
    parse_csv,
    parse_json_products,
    parse_options,
    repeated_skus,
)

HEADER = "handle,title,description,image_url,currency,price,sku,options,variant_price,stock\n"
SHORT = "handle,title,currency,price,sku\n"


def errors(result: ParsedImport) -> list[tuple[int, str | None]]:
    return [(e.row, e.field) for e in result.errors]


def product(sku: str = "S1", **fields: Any) -> dict[str, Any]:
    return {"title": "Mug", "currency": "EUR", "price": 900, "variants": [{"sku": sku}], **fields}


def test_rows_sharing_a_handle_become_one_product_with_variants() -> None:
    result = parse_csv(
        HEADER
        + "tee,T-shirt,Soft,https://img.example.com/t.png,EUR,1999,TEE-M,size=M; colour=Blue,,5\n"
        + "tee,Ignored,Other,,USD,1,TEE-L,size=L,2199,\n"
        + "mug,Mug,,,EUR,900,MUG,,,\n"
    )
    assert result.errors == []
    assert result.rows == [[1, 2], [3]]
    tee, mug = result.products
    # Product fields come from the first row of the handle only.
    assert (tee.title, tee.description, tee.currency, tee.price) == ("T-shirt", "Soft", "EUR", 1999)
    assert str(tee.image_url) == "https://img.example.com/t.png"
    assert [(v.sku, v.options, v.price, v.stock) for v in tee.variants] == [
        ("TEE-M", {"size": "M", "colour": "Blue"}, None, 5),
        ("TEE-L", {"size": "L"}, 2199, 0),
    ]
    assert mug.image_url is None
    assert [v.sku for v in mug.variants] == ["MUG"]


def test_only_required_columns_in_any_order() -> None:
    result = parse_csv("sku,price,currency,title,handle\nS1, 12 ,EUR,Mug,mug\n")
    assert result.errors == []
    assert result.products[0].price == 12
    assert result.products[0].variants[0].stock == 0


@pytest.mark.parametrize(
    ("cells", "field"),
    [
        ("a,A,EUR,abc,S1", "price"),
        ("a,A,EUR,1.5,S1", "price"),
        ("a,A,EUR,,S1", "price"),
        ("a,A,EUR,-1,S1", "price"),
        ("a,A,eur,100,S1", "currency"),
        ("a,A,ABC,100,S1", "currency"),
        ("a,A,EUR,100,bad sku!", "sku"),
        ("a,A,EUR,100,", "sku"),
        ("a,,EUR,100,S1", "title"),
        (",A,EUR,100,S1", "handle"),
    ],
)
def test_bad_cell_is_reported_with_row_and_field(cells: str, field: str) -> None:
    result = parse_csv(SHORT + "ok,Fine,EUR,1,OK1\n" + cells + "\n")
    assert errors(result) == [(2, field)]
    assert [p.title for p in result.products] == ["Fine"]
    assert result.rows == [[1]]


@pytest.mark.parametrize(
    ("extra", "field"),
    [("x,", "variant_price"), ("-5,", "variant_price"), (",lots", "stock"), (",-1", "stock")],
)
def test_bad_variant_numbers_point_at_their_own_row(extra: str, field: str) -> None:
    head = "handle,title,currency,price,sku,variant_price,stock\n"
    result = parse_csv(head + "a,A,EUR,1,S1,,\n" + f"a,A,EUR,1,S2,{extra}\n")
    assert errors(result) == [(2, field)]
    assert result.products == []
    assert result.rows == []


def test_every_problem_is_reported_in_row_order() -> None:
    # Found in handle order (a's rows first, ragged rows before any), reported in row order.
    rows = "a,A,EUR,x,S1\nb,B,xx,1,S2\na,A,EUR,1,bad sku\nc,C\n"
    result = parse_csv(SHORT + rows)
    assert errors(result) == [(1, "price"), (2, "currency"), (3, "sku"), (4, None)]
    assert all(e.message for e in result.errors)


@pytest.mark.parametrize(
    ("options", "message"),
    [("size", "'size' is not name=value"), ("size=M; size=L", "'size' is repeated")],
)
def test_bad_options_text_is_a_row_error(options: str, message: str) -> None:
    result = parse_csv(SHORT.rstrip() + ",options\n" + f"a,A,EUR,1,S1,{options}\n")
    assert errors(result) == [(1, "options")]
    assert message in result.errors[0].message


def test_empty_option_value_names_the_option() -> None:
    result = parse_csv(SHORT.rstrip() + ",options\na,A,EUR,1,S1,size=\n")
    assert errors(result) == [(1, "options.size")]


def test_missing_and_unknown_columns_are_one_header_error() -> None:
    result = parse_csv("handle,title,price,colour,sku\na,A,1,red,S1\n")
    assert result.products == []
    assert [e.to_dict() for e in result.errors] == [
        {"row": 0, "field": None, "message": "missing columns: currency; unknown columns: colour"}
    ]


@pytest.mark.parametrize("text", ["", SHORT])
def test_nothing_to_import(text: str) -> None:
    result = parse_csv(text)
    assert result.products == []
    assert len(result.errors) == 1
    assert result.errors[0].row == 0


def test_header_only_says_there_are_no_rows() -> None:
    assert parse_csv(SHORT).errors[0].message == "no rows to import"


def test_ragged_rows_are_refused_but_others_still_parse() -> None:
    result = parse_csv(SHORT + "a,A,EUR,1,S1,extra\nb,B,EUR,1\nc,C,EUR,1,S3\n")
    assert errors(result) == [(1, None), (2, None)]
    assert "number of cells" in result.errors[0].message
    assert [p.title for p in result.products] == ["C"]
    assert result.rows == [[3]]


def test_too_many_rows() -> None:
    result = parse_csv(SHORT + "a,A,EUR,1,S1\n" * (MAX_IMPORT_ROWS + 1))
    assert result.products == []
    assert [e.to_dict() for e in result.errors] == [
        {"row": 0, "field": None, "message": f"at most {MAX_IMPORT_ROWS} rows per import"}
    ]


@pytest.mark.parametrize("row", [1, 3])
def test_malformed_csv_names_the_row(row: int) -> None:
    good = "".join(f"a,A,EUR,1,S{i}\n" for i in range(row - 1))
    result = parse_csv(SHORT + good + "b,B,EUR,1," + "x" * 200_000 + "\n")
    assert result.products == []
    assert errors(result) == [(row, None)]
    assert result.errors[0].message.startswith("malformed CSV:")


def test_duplicate_skus_within_the_import() -> None:
    result = parse_csv(SHORT + "a,A,EUR,1,S1\nb,B,EUR,1,S1\na,A,EUR,1,S1\nc,C,EUR,1,S2\n")
    assert sorted(errors(result)) == [(2, "sku"), (3, "sku")]
    assert result.errors[0].message == "SKU 'S1' is repeated in this import"
    # Duplicates are reported, not dropped: the caller decides what to do.
    assert len(result.products) == 3


def test_too_many_variants_for_one_handle_is_reported_on_its_first_row() -> None:
    rows = "".join(f"a,A,EUR,1,S{i}\n" for i in range(101))
    assert errors(parse_csv(SHORT + rows)) == [(1, "variants")]


@pytest.mark.parametrize("price", ["--5", "²"])
def test_digit_like_price_is_a_row_error_not_a_crash(price: str) -> None:
    result = parse_csv(SHORT + f"a,A,EUR,{price},S1\n")
    assert errors(result) == [(1, "price")]


def test_parse_options() -> None:
    assert parse_options("") == {}
    assert parse_options(" ; size = M ;; colour=Blue ; ") == {"size": "M", "colour": "Blue"}
    assert parse_options("fit=a=b") == {"fit": "a=b"}


@pytest.mark.parametrize("text", ["size", "size=M;colour", " size =M; size=L"])
def test_parse_options_refuses_bad_text(text: str) -> None:
    with pytest.raises(ValueError, match=r"size|colour"):
        parse_options(text)


def test_parse_json_products() -> None:
    items: list[object] = [
        product("S1", variants=[{"sku": "S1"}, {"sku": "S2", "stock": 3}]),
        "not a product",
        product("S3", price="900"),
        product("S4", colour="red"),
        product("S1"),
        product("S5", currency="EURO"),
    ]
    result = parse_json_products(items)
    assert [p.variants[0].sku for p in result.products] == ["S1", "S1"]
    assert result.rows == [[0, 0], [4]]
    assert errors(result) == [(1, None), (2, "price"), (3, "colour"), (4, "sku"), (5, "currency")]
    assert result.errors[3].message == "SKU 'S1' is repeated in this import"


def test_parse_json_products_nested_variant_error_has_full_path() -> None:
    result = parse_json_products([product(variants=[{"sku": "S1"}, {"sku": "S2", "stock": -1}])])
    assert errors(result) == [(0, "variants.1.stock")]


def test_parse_json_products_empty() -> None:
    result = parse_json_products([])
    assert (result.products, result.rows, result.errors) == ([], [], [])


def test_repeated_skus() -> None:
    assert repeated_skus([]) == []
    assert repeated_skus(["a", "b", "c"]) == []
    assert repeated_skus(["a", "b", "a", "a", "c", "b"]) == [(2, "a"), (3, "a"), (5, "b")]
    assert repeated_skus(iter(["x", "X", "x"])) == [(2, "x")]


def test_a_repeated_sku_is_reported_on_its_later_row() -> None:
    result = parse_csv(SHORT + "a,A,EUR,100,S1\nb,B,EUR,100,S2\na,A,EUR,100,S2\n")
    assert [(e.row, e.field) for e in result.errors] == [(3, "sku")]
