"""The one text rule (core.text) and every schema that takes text people write."""

from __future__ import annotations

import re
from typing import Annotated, Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from cart.catalog.schemas import ProductIn, ProductPatch, VariantIn
from cart.orders.rules import Address
from core.text import BIDI_CONTROLS, clean_text, plain_text, refusal, scrub
from live.room.rules import Announce, Ask, BlockedWords, Chat
from live.shows.schemas import ShowIn, ShowPatch
from server.accounts.schemas import NewGuest, NewShop, SignUp

C0 = [chr(c) for c in range(0x20)]
C1 = [chr(c) for c in range(0x7F, 0xA0)]  # DEL and the C1 controls
BIDI = [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))]
SURROGATES = ["\ud800", "\udbff", "\udc00", "\udfff"]
# Refused in every field (LF and TAB are allowed in multi-line fields; CR is refused there too).
ALWAYS_REFUSED = [ch for ch in C0 + C1 if ch not in "\n\t"] + BIDI + SURROGATES


def _ids(ch: str) -> str:
    return f"U+{ord(ch):04X}"


@pytest.mark.parametrize(
    "text",
    [
        "क्षत्रिय",  # Devanagari conjuncts: virama + ZWJ/ZWNJ shaping
        "क्\u200dष",  # an explicit ZWJ in a conjunct
        "क्\u200cष",  # an explicit ZWNJ (half form)
        "می\u200cخواهم",  # noqa: RUF001 - Persian: ZWNJ inside a word
        "👩\u200d💻",  # emoji ZWJ sequence
        "👨\u200d👩\u200d👧\u200d👦",  # family
        "🏳️\u200d🌈",  # flag with a variation selector
        "👍🏽",  # skin tone modifier
        "مرحبا بالعالم",  # Arabic
        "שלום עולם",  # Hebrew
        "שלום\u200f!",  # RLM orders punctuation in RTL text; it overrides nothing
        "abc\u200edef",  # LRM
        "٣\u061c٤",  # ALM
        "日本語のテキスト",
        "Grüße, ça va ?",
        "<b>bold</b>",  # text stays text
        "a  b",
    ],
)
@pytest.mark.parametrize("multiline", [False, True])
def test_the_rule_keeps_every_script_joiners_and_marks(text: str, multiline: bool) -> None:
    assert clean_text(text, 100, multiline=multiline) == text


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("  hello  ", "hello"),
        ("\n\thello\t\n", "hello"),  # a pasted trailing newline is trimmed, not refused
        ("\u3000hello\u00a0", "hello"),
    ],
)
@pytest.mark.parametrize("multiline", [False, True])
def test_the_rule_trims(raw: str, clean: str, multiline: bool) -> None:
    assert clean_text(raw, 100, multiline=multiline) == clean


@pytest.mark.parametrize("ch", ALWAYS_REFUSED, ids=_ids)
@pytest.mark.parametrize("multiline", [False, True])
def test_every_control_and_bidi_control_is_refused(ch: str, multiline: bool) -> None:
    for text in (f"a{ch}b", f"{ch}ab" if not ch.isspace() else f"a{ch}b"):
        with pytest.raises(ValueError, match=r"control characters|single line"):
            clean_text(text, 100, multiline=multiline)
    assert refusal(ch, multiline=multiline) is not None


@pytest.mark.parametrize("ch", BIDI, ids=_ids)
def test_bidi_controls_say_what_they_are(ch: str) -> None:
    assert ch in BIDI_CONTROLS
    why = re.escape(f"bidirectional control characters ({_ids(ch)})")
    with pytest.raises(ValueError, match=why):
        clean_text(f"evil{ch}gpj.exe", 100)


@pytest.mark.parametrize("text", ["a\nb", "a\r\nb", "a\rb", "a\u2028b", "a\u2029b"], ids=repr)
def test_single_line_fields_refuse_line_breaks(text: str) -> None:
    with pytest.raises(ValueError, match="must be a single line"):
        clean_text(text, 100)


def test_single_line_fields_refuse_tabs() -> None:
    with pytest.raises(ValueError, match=r"control characters \(U\+0009\)"):
        clean_text("a\tb", 100)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("line 1\nline 2", "line 1\nline 2"),
        ("a\tb", "a\tb"),
        ("a\n\n\tb", "a\n\n\tb"),
        ("line 1\r\nline 2\r\n", "line 1\nline 2"),  # pasted CRLF becomes LF
        ("a\u2028b", "a\u2028b"),
    ],
    ids=repr,
)
def test_multi_line_fields_keep_newlines_and_tabs(raw: str, clean: str) -> None:
    assert clean_text(raw, 100, multiline=True) == clean


def test_multi_line_fields_refuse_a_lone_carriage_return() -> None:
    with pytest.raises(ValueError, match=r"control characters \(U\+000D\)"):
        clean_text("a\rb", 100, multiline=True)


@pytest.mark.parametrize("raw", ["", " ", "\n\t  \n", "\u3000\u00a0\u2003"], ids=repr)
def test_empty_text_is_refused_unless_optional(raw: str) -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        clean_text(raw, 100)
    assert clean_text(raw, 100, optional=True) == ""


@pytest.mark.parametrize("limit", [1, 5, 500])
@pytest.mark.parametrize("char", ["x", "é", "日", "😀"])
def test_the_limit_counts_characters_after_trimming(limit: int, char: str) -> None:
    assert clean_text(char * limit, limit) == char * limit
    assert clean_text("  " + char * limit + "\n", limit) == char * limit
    with pytest.raises(ValueError, match=f"at most {limit} characters"):
        clean_text(char * (limit + 1), limit)


@given(st.text(max_size=40), st.booleans())
def test_what_passes_holds_nothing_the_rule_refuses(text: str, multiline: bool) -> None:
    try:
        clean = clean_text(text, 40, multiline=multiline)
    except ValueError:
        return
    assert clean and clean == clean.strip()
    assert all(refusal(ch, multiline=multiline) is None for ch in clean)
    assert clean.encode("utf-8")  # no lone surrogate: it can be stored and sent


_ALLOWED = st.characters(
    codec="utf-8",
    exclude_categories=("Cc", "Cs"),
    exclude_characters="".join(BIDI) + "\u2028\u2029",
)


@given(st.text(_ALLOWED, min_size=1, max_size=40))
def test_text_without_refused_characters_passes_trimmed(text: str) -> None:
    if not text.strip():
        return
    assert clean_text(text, 40) == text.strip()


@given(st.text(max_size=40))
def test_scrub_leaves_only_what_the_rule_allows(text: str) -> None:
    kept = scrub(text)
    assert clean_text(kept, 40) == kept


def test_scrub_keeps_a_good_name_and_drops_the_rest() -> None:
    assert scrub("Ana") == "Ana"
    assert scrub("A\x00n\u202ea\r\n") == "Ana"
    assert scrub("\x00\x1b") == "?"


class _Named(BaseModel):
    name: Annotated[str, plain_text(10)]


def test_the_validator_names_the_field_and_says_why() -> None:
    with pytest.raises(ValidationError) as info:
        _Named.model_validate({"name": "a\u202eb"})
    (error,) = info.value.errors()
    assert error["loc"] == ("name",)
    assert error["type"] == "value_error"
    assert "bidirectional control characters (U+202E)" in error["msg"]


# Every schema that takes text people write, and whether the field is multi-line.

_ADDRESS = {"name": "Ana", "line1": "Main St 1", "city": "Berlin", "postal_code": "10115"}
_ADDRESS |= {"country": "DE"}
_VARIANT = {"sku": "S-1", "options": {"size": "M"}}
_PRODUCT = {"title": "Mug", "currency": "EUR", "price": 900, "variants": [_VARIANT]}
_SHOW = {"title": "Show", "scheduled_at": "2030-01-01T10:00:00+00:00", "currency": "EUR"}
_SIGNUP = {"email": "a@example.com", "password": "long enough", "display_name": "Ana"}

# (schema, a valid body, path to the text field, multi-line)
FIELDS: list[tuple[type[BaseModel], dict[str, Any], tuple[Any, ...], bool]] = [
    (SignUp, _SIGNUP, ("display_name",), False),
    (NewGuest, {"display_name": "Ana"}, ("display_name",), False),
    (NewShop, {"name": "Shop"}, ("name",), False),
    (Chat, {"text": "hi"}, ("text",), False),
    (Ask, {"text": "hi?"}, ("text",), False),
    (Announce, {"text": "sale"}, ("text",), True),
    (BlockedWords, {"words": ["scam"]}, ("words", 0), False),
    (ShowIn, _SHOW, ("title",), False),
    (ShowIn, _SHOW | {"description": "d"}, ("description",), True),
    (ShowPatch, {"title": "t"}, ("title",), False),
    (ShowPatch, {"description": "d"}, ("description",), True),
    (ProductIn, _PRODUCT, ("title",), False),
    (ProductIn, _PRODUCT | {"description": "d"}, ("description",), True),
    (ProductPatch, {"title": "t"}, ("title",), False),
    (ProductPatch, {"description": "d"}, ("description",), True),
    (VariantIn, _VARIANT, ("options", "size"), False),
    (Address, _ADDRESS, ("name",), False),
    (Address, _ADDRESS, ("line1",), False),
    (Address, _ADDRESS | {"line2": "x"}, ("line2",), False),
    (Address, _ADDRESS, ("city",), False),
    (Address, _ADDRESS | {"region": "x"}, ("region",), False),
]


def _with(body: dict[str, Any], path: tuple[Any, ...], value: str) -> dict[str, Any]:
    out: Any = {k: (dict(v) if isinstance(v, dict) else list(v) if isinstance(v, list) else v)
                for k, v in body.items()}  # fmt: skip
    target = out
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return dict(out)


def _label(case: tuple[type[BaseModel], dict[str, Any], tuple[Any, ...], bool]) -> str:
    return f"{case[0].__name__}.{'.'.join(map(str, case[2]))}"


@pytest.mark.parametrize("case", FIELDS, ids=_label)
@pytest.mark.parametrize(
    "bad", ["Ana\x00", "\x1b[31mAna", "A\rna", "Ana\u202egpj", "A\u2066na", "A\x85na"], ids=repr
)
def test_every_text_field_follows_the_rule(
    case: tuple[type[BaseModel], dict[str, Any], tuple[Any, ...], bool], bad: str
) -> None:
    schema, body, path, _ = case
    schema.model_validate(body)
    with pytest.raises(ValidationError) as info:
        schema.model_validate(_with(body, path, bad))
    assert info.value.errors()[0]["loc"] == path


@pytest.mark.parametrize("case", FIELDS, ids=_label)
def test_only_multi_line_fields_take_newlines(
    case: tuple[type[BaseModel], dict[str, Any], tuple[Any, ...], bool],
) -> None:
    schema, body, path, multiline = case
    good = "क्षत्रिय" if schema is BlockedWords else "क्षत्रिय 👩\u200d💻 שלום"
    assert _value(schema.model_validate(_with(body, path, good)), path) == good
    two_lines = _with(body, path, "one\r\ntwo")
    if multiline:
        assert _value(schema.model_validate(two_lines), path) == "one\ntwo"
    else:
        with pytest.raises(ValidationError, match="single line"):
            schema.model_validate(two_lines)


def _value(model: BaseModel, path: tuple[Any, ...]) -> Any:
    value: Any = model
    for part in path:
        value = getattr(value, part) if isinstance(value, BaseModel) else value[part]
    return value


@pytest.mark.parametrize("name", ["si\x00ze", "si\u202eze", "si\nze"], ids=repr)
def test_option_names_follow_the_rule_too(name: str) -> None:
    with pytest.raises(ValidationError):
        VariantIn.model_validate({"sku": "S-1", "options": {name: "M"}})
