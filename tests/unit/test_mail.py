"""Email without I/O: templates in both languages, HTML escaping, money per language, backoff,
the checkout's email fields and the email settings."""

from __future__ import annotations

import email
from email.message import EmailMessage
from email.policy import default
from typing import Any

import pytest
from pydantic import ValidationError

from cart.orders.rules import Checkout
from server.mail.render import UnknownTemplate, render
from server.mail.rules import NBSP, backoff, exponent, format_money, language_of, permanent
from server.mail.sender import Claimed, OutboxSender, SenderConfig
from server.settings import SettingsError, load_settings


def data(**more: Any) -> dict[str, Any]:
    return {
        "number": "LS-000042",
        "shop": "Anna's Shop",
        "show": "Spring Drop",
        "currency": "EUR",
        "total": 123456,
        "lines": [
            {"title": "Blue Scarf", "variant": "colour: Blue", "quantity": 2, "price": 5000},
            {"title": "Hat", "variant": "", "quantity": 1, "price": 118456},
        ],
        "shipping_address": {
            "name": "Ana Buyer",
            "line1": "Hauptstrasse 1",
            "line2": "",
            "city": "Berlin",
            "region": "",
            "postal_code": "10115",
            "country": "DE",
            "phone": "",
        },
        **more,
    }


@pytest.mark.parametrize(
    ("language", "subject", "words", "total"),
    [
        ("en", "Your order LS-000042 from Anna's Shop", "Thank you", "€1,234.56"),
        ("de", "Deine Bestellung LS-000042 bei Anna's Shop", "Vielen Dank", f"1.234,56{NBSP}€"),
        # Any other language is English.
        ("fr", "Your order LS-000042 from Anna's Shop", "Thank you", "€1,234.56"),
    ],
)
def test_the_order_confirmation_renders_in_each_language(
    language: str, subject: str, words: str, total: str
) -> None:
    rendered = render("order_confirmation", language, data())
    assert rendered.subject == subject
    for part in (rendered.text, rendered.html):
        assert words in part and total in part and "LS-000042" in part
        assert "Blue Scarf" in part and "colour: Blue" in part and "Spring Drop" in part
        assert "Hauptstrasse 1" in part and "10115 Berlin" in part
    assert rendered.html.startswith("<!doctype html>")
    assert f'<html lang="{language_of(language)}">' in rendered.html


@pytest.mark.parametrize(
    ("language", "subject", "amount"),
    [
        ("en", "Your refund for order LS-000042 from Anna's Shop", "Refunded: €1,234.56"),
        ("de", "Erstattung für deine Bestellung LS-000042 bei Anna's Shop", "Erstattet: 1.234,56"),
    ],
)
def test_the_refund_email_renders_in_each_language(
    language: str, subject: str, amount: str
) -> None:
    rendered = render("refund", language, data(refund_amount=123456))
    assert rendered.subject == subject
    assert amount in rendered.text and amount in rendered.html


def test_html_escapes_what_buyers_and_shops_wrote() -> None:
    evil = "<script>alert(1)</script>"
    address = {**data()["shipping_address"], "name": evil, "line1": '"><img src=x>'}
    rendered = render(
        "order_confirmation",
        "en",
        data(
            shop=evil,
            show=evil,
            shipping_address=address,
            lines=[{"title": evil, "variant": evil, "quantity": 1, "price": 1}],
        ),
    )
    assert "<script>" not in rendered.html and "<img" not in rendered.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered.html
    assert "&#34;&gt;&lt;img src=x&gt;" in rendered.html
    # The text part is plain text: shown as written, never interpreted.
    assert evil in rendered.text


def test_the_subject_is_one_line_whatever_the_shop_is_called() -> None:
    rendered = render("order_confirmation", "en", data(shop="Shop\r\nBcc: eve@example.com"))
    assert "\n" not in rendered.subject and "\r" not in rendered.subject


def test_an_unknown_kind_or_missing_value_is_an_error() -> None:
    with pytest.raises(UnknownTemplate):
        render("invite", "en", data())
    incomplete = data()
    del incomplete["total"]
    with pytest.raises(Exception, match="total"):
        render("order_confirmation", "en", incomplete)


@pytest.mark.parametrize(
    ("minor", "currency", "en", "de"),
    [
        (2500, "EUR", "€25.00", f"25,00{NBSP}€"),
        (123456789, "EUR", "€1,234,567.89", f"1.234.567,89{NBSP}€"),
        (5, "USD", "$0.05", f"0,05{NBSP}$"),
        (100000, "GBP", "£1,000.00", f"1.000,00{NBSP}£"),
        (1999, "PLN", f"PLN{NBSP}19.99", f"19,99{NBSP}PLN"),
        (49900, "INR", "₹499.00", f"499,00{NBSP}₹"),
        (0, "NPR", f"NPR{NBSP}0.00", f"0,00{NBSP}NPR"),
        (2500, "JPY", "¥2,500", f"2.500{NBSP}¥"),
        (7, "JPY", "¥7", f"7{NBSP}¥"),
        (1234, "KWD", f"KWD{NBSP}1.234", f"1,234{NBSP}KWD"),
        (-2500, "EUR", "-€25.00", f"-25,00{NBSP}€"),
    ],
)
def test_money_is_formatted_per_language(minor: int, currency: str, en: str, de: str) -> None:
    assert format_money(minor, currency, "en") == en
    assert format_money(minor, currency, "de") == de


def test_currency_exponents() -> None:
    assert [exponent(c) for c in ("EUR", "USD", "GBP", "PLN", "INR", "NPR")] == [2] * 6
    assert (exponent("JPY"), exponent("KRW"), exponent("BHD")) == (0, 0, 3)


def test_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    assert [backoff(n, 30, 3600) for n in range(1, 10)] == [
        30,
        60,
        120,
        240,
        480,
        960,
        1920,
        3600,
        3600,
    ]
    assert backoff(0, 30, 3600) == 0
    assert backoff(10_000, 0.5, 60) == 60  # no overflow however many attempts


@pytest.mark.parametrize(("code", "final"), [(550, True), (554, True), (421, False), (451, False)])
def test_5xx_answers_are_final_4xx_temporary(code: int, final: bool) -> None:
    assert permanent(code) is final


def test_the_message_has_both_parts_and_a_stable_id() -> None:
    config = SenderConfig("Shop <orders@shop.example>", 5, 1, 10, 1, 60)
    sender = OutboxSender(None, None, None, None, config)  # type: ignore[arg-type]
    row = Claimed(7, "order_confirmation", "ana@example.com", "de", data(), "order-paid:42", 1)
    first, again = sender.message(row), sender.message(row)
    parsed = email.message_from_bytes(bytes(first), policy=default)
    assert isinstance(parsed, EmailMessage)
    assert parsed["To"] == "ana@example.com" and parsed["Content-Language"] == "de"
    assert parsed.get_body(("plain",)) is not None and parsed.get_body(("html",)) is not None
    assert first["Message-ID"] == again["Message-ID"]
    assert str(first["Message-ID"]).endswith("@shop.example>")


CHECKOUT = {
    "idempotency_key": "k",
    "cart_version": 1,
    "quote": "0123456789abcdef",
    "shipping_address": data()["shipping_address"],
    "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"},
}


def test_checkout_asks_for_the_buyers_email_and_keeps_their_language() -> None:
    body = Checkout.model_validate({**CHECKOUT, "email": "ana@example.com"})
    assert (body.email, body.language) == ("ana@example.com", "en")
    body = Checkout.model_validate({**CHECKOUT, "email": "ana@example.com", "language": "de"})
    assert body.language == "de"
    for bad in ({}, {"email": "ana"}, {"email": "ana@example.com", "language": "fr"}):
        with pytest.raises(ValidationError):
            Checkout.model_validate({**CHECKOUT, **bad})


def test_email_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SMTP_HOST", "MAIL_TRANSPORT", "MAIL_FROM"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.email_transport == "file"
    assert (settings.smtp_port, settings.smtp_starttls, settings.smtp_ssl) == (587, True, False)
    assert load_settings(smtp_host="mail.example.com").email_transport == "smtp"
    assert load_settings(smtp_host="", mail_transport=None).email_transport == "file"
    assert load_settings(smtp_host="mx", mail_transport="file").email_transport == "file"
    with pytest.raises(SettingsError, match="MAIL_TRANSPORT"):
        load_settings(mail_transport="smtp")
    with pytest.raises(SettingsError, match="MAIL_FROM"):
        load_settings(mail_from="nobody")
    with pytest.raises(SettingsError, match="MAIL_FROM"):
        load_settings(mail_from="a@b.example\r\nBcc: eve@example.com")
    assert "hunter2" not in repr(load_settings(smtp_password="hunter2"))
