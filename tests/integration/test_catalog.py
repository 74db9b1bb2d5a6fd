"""Catalog REST: products with variants, validation, soft delete and bulk import."""

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.helpers import add_member, bearer, error_of, new_product, new_shop, product_body, sign_up


@pytest.fixture
async def shop(client: TestClient[Any, Any]) -> tuple[str, int]:
    token, _ = await sign_up(client, "Owner")
    return token, await new_shop(client, token)


async def _count(client: TestClient[Any, Any], token: str, shop_id: int) -> int:
    body = await (await client.get(f"/api/shops/{shop_id}/products", headers=bearer(token))).json()
    return len(body["products"])


async def test_create_read_update_list(client: TestClient[Any, Any], shop: tuple[str, int]) -> None:
    token, shop_id = shop
    body = product_body(
        "SCARF-BLUE",
        image_url="https://cdn.example.com/scarf.png",
        variants=[
            {"sku": "SCARF-BLUE", "options": {"colour": "Blue"}, "stock": 5},
            {"sku": "SCARF-RED", "options": {"colour": "Red"}, "price": 2700, "stock": 0},
        ],
    )
    resp = await client.post(f"/api/shops/{shop_id}/products", json=body, headers=bearer(token))
    assert resp.status == 201
    product = await resp.json()
    assert product["price"] == 2500 and product["currency"] == "EUR"
    assert [(v["sku"], v["price"], v["stock"]) for v in product["variants"]] == [
        ("SCARF-BLUE", 2500, 5),
        ("SCARF-RED", 2700, 0),
    ]
    url = f"/api/shops/{shop_id}/products/{product['id']}"
    resp = await client.patch(
        url, json={"title": "Silk Scarf", "price": 3000}, headers=bearer(token)
    )
    assert resp.status == 200
    updated = await resp.json()
    assert updated["title"] == "Silk Scarf"
    # Variants without their own price follow the product's.
    assert [v["price"] for v in updated["variants"]] == [3000, 2700]
    got = await (await client.get(url, headers=bearer(token))).json()
    assert got["title"] == "Silk Scarf"
    assert await _count(client, token, shop_id) == 1


async def test_list_pages(client: TestClient[Any, Any], shop: tuple[str, int]) -> None:
    token, shop_id = shop
    ids = [(await new_product(client, token, shop_id))["id"] for _ in range(5)]
    seen: list[int] = []
    after = 0
    while True:
        resp = await client.get(
            f"/api/shops/{shop_id}/products?limit=2&after={after}", headers=bearer(token)
        )
        page = await resp.json()
        seen += [p["id"] for p in page["products"]]
        if page["next_after"] is None:
            break
        after = page["next_after"]
    assert seen == ids
    resp = await client.get(f"/api/shops/{shop_id}/products?limit=1000", headers=bearer(token))
    assert (await error_of(resp, 422))["field"] == "limit"
    resp = await client.get(f"/api/shops/{shop_id}/products?colour=red", headers=bearer(token))
    assert (await error_of(resp, 422))["field"] == "colour"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"price": -1}, "price"),
        ({"price": 10**15}, "price"),
        ({"price": "25.00"}, "price"),
        ({"price": 25.5}, "price"),
        ({"price": True}, "price"),
        ({"currency": "EURO"}, "currency"),
        ({"currency": "XYZ"}, "currency"),
        ({"currency": "eur"}, "currency"),
        ({"title": ""}, "title"),
        ({"title": None}, "title"),
        ({"image_url": "javascript:alert(1)"}, "image_url"),
        ({"variants": []}, "variants"),
        ({"variants": [{"sku": "A", "stock": -1}]}, "variants.0.stock"),
        ({"variants": [{"sku": "A", "stock": 10**9}]}, "variants.0.stock"),
        ({"variants": [{"sku": "bad sku!"}]}, "variants.0.sku"),
        ({"variants": [{"sku": "A", "colour": "x"}]}, "variants.0.colour"),
        ({"variants": [{"sku": "A", "options": {"size": 4}}]}, "variants.0.options.size"),
        ({"weight": 3}, "weight"),
    ],
)
async def test_bad_products_are_refused_and_change_nothing(
    client: TestClient[Any, Any], shop: tuple[str, int], change: dict[str, Any], field: str
) -> None:
    token, shop_id = shop
    body = product_body() | change
    resp = await client.post(f"/api/shops/{shop_id}/products", json=body, headers=bearer(token))
    err = await error_of(resp, 422)
    assert err["code"] == "validation_error"
    assert err["field"] == field
    assert await _count(client, token, shop_id) == 0


async def test_missing_field(client: TestClient[Any, Any], shop: tuple[str, int]) -> None:
    token, shop_id = shop
    body = product_body()
    del body["currency"]
    resp = await client.post(f"/api/shops/{shop_id}/products", json=body, headers=bearer(token))
    assert (await error_of(resp, 422))["field"] == "currency"


async def test_duplicate_skus(client: TestClient[Any, Any], shop: tuple[str, int]) -> None:
    token, shop_id = shop
    url = f"/api/shops/{shop_id}/products"
    twice = product_body(variants=[{"sku": "A-1"}, {"sku": "A-1"}])
    err = await error_of(await client.post(url, json=twice, headers=bearer(token)), 409)
    assert err == {**err, "code": "duplicate_sku", "field": "variants.1.sku"}
    assert (await client.post(url, json=product_body("A-1"), headers=bearer(token))).status == 201
    err = await error_of(
        await client.post(url, json=product_body("A-1"), headers=bearer(token)), 409
    )
    assert err["code"] == "duplicate_sku"
    assert await _count(client, token, shop_id) == 1
    # SKUs are unique per shop, not across shops.
    other, _ = await sign_up(client, "Other")
    other_shop = await new_shop(client, other)
    resp = await client.post(
        f"/api/shops/{other_shop}/products", json=product_body("A-1"), headers=bearer(other)
    )
    assert resp.status == 201


async def test_variants(client: TestClient[Any, Any], shop: tuple[str, int]) -> None:
    token, shop_id = shop
    product = await new_product(client, token, shop_id)
    url = f"/api/shops/{shop_id}/products/{product['id']}/variants"
    resp = await client.post(
        url, json={"sku": "NEW-1", "options": {"size": "L"}, "stock": 3}, headers=bearer(token)
    )
    assert resp.status == 201
    variant = await resp.json()
    resp = await client.patch(
        f"{url}/{variant['id']}", json={"stock": 7, "price": 999}, headers=bearer(token)
    )
    changed = await resp.json()
    assert (changed["stock"], changed["price"]) == (7, 999)
    resp = await client.patch(f"{url}/{variant['id']}", json={"stock": -5}, headers=bearer(token))
    assert (await error_of(resp, 422))["field"] == "stock"
    resp = await client.patch(f"{url}/{variant['id']}", json={}, headers=bearer(token))
    assert resp.status == 422
    assert (await client.delete(f"{url}/{variant['id']}", headers=bearer(token))).status == 204
    first = product["variants"][0]["id"]
    resp = await client.delete(f"{url}/{first}", headers=bearer(token))
    assert (await error_of(resp, 409))["code"] == "conflict"
    got = await (
        await client.get(f"/api/shops/{shop_id}/products/{product['id']}", headers=bearer(token))
    ).json()
    assert [v["id"] for v in got["variants"]] == [first]


async def test_soft_delete_keeps_the_product_readable(
    client: TestClient[Any, Any], shop: tuple[str, int]
) -> None:
    token, shop_id = shop
    product = await new_product(client, token, shop_id)
    url = f"/api/shops/{shop_id}/products/{product['id']}"
    assert (await client.delete(url, headers=bearer(token))).status == 204
    assert await _count(client, token, shop_id) == 0
    got = await (await client.get(url, headers=bearer(token))).json()
    assert got["deleted"] is True and got["title"] == product["title"]
    assert (await client.patch(url, json={"title": "x"}, headers=bearer(token))).status == 404


async def test_moderators_read_but_do_not_write(client: TestClient[Any, Any]) -> None:
    owner, _ = await sign_up(client, "Owner")
    shop_id = await new_shop(client, owner)
    mod, _ = await add_member(client, owner, shop_id, "moderator")
    assert (await client.get(f"/api/shops/{shop_id}/products", headers=bearer(mod))).status == 200
    resp = await client.post(
        f"/api/shops/{shop_id}/products", json=product_body(), headers=bearer(mod)
    )
    assert (await error_of(resp, 403))["code"] == "forbidden"


async def test_another_shops_product_is_not_found(client: TestClient[Any, Any]) -> None:
    ana, _ = await sign_up(client, "Ana")
    bob, _ = await sign_up(client, "Bob")
    ana_shop, bob_shop = await new_shop(client, ana), await new_shop(client, bob)
    product = await new_product(client, ana, ana_shop)
    # Bob uses his own shop id with Ana's product id.
    url = f"/api/shops/{bob_shop}/products/{product['id']}"
    assert (await client.get(url, headers=bearer(bob))).status == 404
    assert (await client.patch(url, json={"price": 1}, headers=bearer(bob))).status == 404
    assert (await client.delete(url, headers=bearer(bob))).status == 404
    got = await (
        await client.get(f"/api/shops/{ana_shop}/products/{product['id']}", headers=bearer(ana))
    ).json()
    assert got["price"] == product["price"] and got["deleted"] is False


async def test_another_shops_variant_is_not_found(client: TestClient[Any, Any]) -> None:
    ana, _ = await sign_up(client, "Ana")
    bob, _ = await sign_up(client, "Bob")
    ana_shop, bob_shop = await new_shop(client, ana), await new_shop(client, bob)
    product = await new_product(client, ana, ana_shop)
    bob_product = await new_product(client, bob, bob_shop)
    variant = product["variants"][0]["id"]
    for url in (
        f"/api/shops/{bob_shop}/products/{product['id']}/variants/{variant}",
        # Bob's own product id with Ana's variant id.
        f"/api/shops/{bob_shop}/products/{bob_product['id']}/variants/{variant}",
    ):
        assert (await client.patch(url, json={"stock": 0}, headers=bearer(bob))).status == 404
        assert (await client.delete(url, headers=bearer(bob))).status == 404
    resp = await client.post(
        f"/api/shops/{bob_shop}/products/{product['id']}/variants",
        json={"sku": "BOB-1", "stock": 1},
        headers=bearer(bob),
    )
    assert resp.status == 404
    got = await (
        await client.get(f"/api/shops/{ana_shop}/products/{product['id']}", headers=bearer(ana))
    ).json()
    assert got["variants"] == product["variants"]


async def test_odd_ids_and_cursors_are_refused_cleanly(
    client: TestClient[Any, Any], shop: tuple[str, int]
) -> None:
    token, shop_id = shop
    for bad in ("\u00b2", "\u0663", "1\u00b2", "%C2%B2"):
        resp = await client.get(f"/api/shops/{shop_id}/products/{bad}", headers=bearer(token))
        assert (await error_of(resp, 404))["code"] == "not_found", bad
    for after in (str(2**63), "9" * 40, "-1", "x"):
        resp = await client.get(
            f"/api/shops/{shop_id}/products", params={"after": after}, headers=bearer(token)
        )
        assert (await error_of(resp, 422))["field"] == "after", after


async def test_json_import_caps_the_number_of_variants(
    client: TestClient[Any, Any], shop: tuple[str, int]
) -> None:
    token, shop_id = shop
    products = [
        product_body(
            f"P{i}",
            variants=[{"sku": f"P{i}-V{j}", "stock": 1} for j in range(100)],
        )
        for i in range(51)
    ]
    resp = await client.post(
        f"/api/shops/{shop_id}/products/import",
        json={"products": products},
        headers=bearer(token),
    )
    err = await error_of(resp, 422)
    assert "at most" in err["details"][0]["message"]
    assert await _count(client, token, shop_id) == 0


CSV_OK = """handle,title,description,image_url,currency,price,sku,options,variant_price,stock
shirt,Linen Shirt,Cool,https://cdn.example.com/shirt.png,EUR,5900,SHIRT-S,size=S,,4
shirt,,,,,,SHIRT-M,size=M,6100,6
mug,Mug,,,EUR,1800,MUG-1,,,10
"""


async def test_csv_import(client: TestClient[Any, Any], shop: tuple[str, int]) -> None:
    token, shop_id = shop
    resp = await client.post(
        f"/api/shops/{shop_id}/products/import",
        data=CSV_OK.encode(),
        headers={**bearer(token), "Content-Type": "text/csv"},
    )
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["imported"] == 2
    body = await (await client.get(f"/api/shops/{shop_id}/products", headers=bearer(token))).json()
    shirt = body["products"][0]
    assert [(v["sku"], v["price"], v["stock"], v["options"]) for v in shirt["variants"]] == [
        ("SHIRT-S", 5900, 4, {"size": "S"}),
        ("SHIRT-M", 6100, 6, {"size": "M"}),
    ]


async def test_csv_import_reports_every_bad_row_and_imports_nothing(
    client: TestClient[Any, Any], shop: tuple[str, int]
) -> None:
    token, shop_id = shop
    await new_product(client, token, shop_id)  # takes a SKU-n
    csv_bad = """handle,title,currency,price,sku,stock
a,Good,EUR,100,OK-1,1
b,Bad price,EUR,-5,B-1,1
c,Bad currency,EUX,100,C-1,1
d,Bad stock,EUR,100,D-1,many
e,Dup,EUR,100,OK-1,1
"""
    resp = await client.post(
        f"/api/shops/{shop_id}/products/import",
        data=csv_bad.encode(),
        headers={**bearer(token), "Content-Type": "text/csv"},
    )
    err = await error_of(resp, 422)
    assert err["code"] == "import_failed"
    assert [(d["row"], d["field"]) for d in err["details"]] == [
        (2, "price"),
        (3, "currency"),
        (4, "stock"),
        (5, "sku"),
    ]
    assert await _count(client, token, shop_id) == 1


async def test_import_refuses_skus_already_in_the_shop(
    client: TestClient[Any, Any], shop: tuple[str, int]
) -> None:
    token, shop_id = shop
    existing = await new_product(client, token, shop_id)
    sku = existing["variants"][0]["sku"]
    body = {"products": [product_body("FRESH-1"), product_body(sku)]}
    resp = await client.post(
        f"/api/shops/{shop_id}/products/import", json=body, headers=bearer(token)
    )
    err = await error_of(resp, 422)
    assert err["details"] == [{"row": 1, "field": "sku", "message": f"SKU {sku!r} already exists"}]
    assert await _count(client, token, shop_id) == 1


async def test_json_import(client: TestClient[Any, Any], shop: tuple[str, int]) -> None:
    token, shop_id = shop
    body = {"products": [product_body("J-1"), product_body("J-2", currency="USD")]}
    resp = await client.post(
        f"/api/shops/{shop_id}/products/import", json=body, headers=bearer(token)
    )
    assert resp.status == 201
    body = {"products": [product_body("J-3"), {"title": "no price"}]}
    resp = await client.post(
        f"/api/shops/{shop_id}/products/import", json=body, headers=bearer(token)
    )
    err = await error_of(resp, 422)
    assert {d["row"] for d in err["details"]} == {1}
    assert await _count(client, token, shop_id) == 2


async def test_import_needs_a_known_content_type(
    client: TestClient[Any, Any], shop: tuple[str, int]
) -> None:
    token, shop_id = shop
    resp = await client.post(
        f"/api/shops/{shop_id}/products/import",
        data=b"x",
        headers={**bearer(token), "Content-Type": "application/xml"},
    )
    assert (await error_of(resp, 415))["code"] == "unsupported_media_type"
    resp = await client.post(
        f"/api/shops/{shop_id}/products/import",
        data=b"\xff\xfe\x00",
        headers={**bearer(token), "Content-Type": "text/csv"},
    )
    assert (await error_of(resp, 422))["code"] == "validation_error"
