"""Rules of the live room, without I/O: chat text, words and blocked words, the strictness of
every event payload, flash-deal terms, the question ranking and who may do what."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from core.db import MAX_ID
from core.errors import AppError, ErrorCode
from core.identity import Role
from live.room import rules
from live.room.rules import (
    MAX_BLOCKED_WORDS,
    MAX_DEAL_SECONDS,
    Announce,
    Ask,
    Ban,
    BlockedWords,
    Chat,
    CloseQuestion,
    Deal,
    DeleteMessage,
    Empty,
    Join,
    Pin,
    React,
    SlowMode,
    Timeout,
    Unpin,
    Vote,
    check_deal,
    question_score,
    require,
    role_allows,
    words_of,
)

NOW_MS = 1_900_000_000_000
DAY_MS = MAX_DEAL_SECONDS * 1000
PRODUCT_PRICE = 5000
FULL_SCAM = "".join(chr(ord(c) + 0xFEE0) for c in "SCAM")  # full-width letters

DEAL = {"price": 4000, "units": 10, "per_buyer": 2, "ends_at_ms": NOW_MS + 60_000}

# One valid payload per event schema; every strictness test starts from it.
VALID: dict[type[BaseModel], dict[str, Any]] = {
    Join: {"show_id": 1, "since": 0},
    Empty: {},
    Chat: {"text": "hello"},
    Ask: {"text": "does it run small?"},
    Vote: {"question_id": 1},
    CloseQuestion: {"question_id": 1, "status": "answered"},
    React: {"count": 1},
    Deal: DEAL,
    Pin: {"product_id": 1, "deal": DEAL},
    Unpin: {"product_id": 1},
    DeleteMessage: {"message_id": 1},
    Timeout: {"subject": "g:" + "ab" * 16, "minutes": 5},
    Ban: {"subject": "a:1"},
    Announce: {"text": "free shipping"},
    SlowMode: {"seconds": 30},
    BlockedWords: {"words": ["scam"]},
}
SCHEMAS = list(VALID)

# (schema, field, lowest accepted, highest accepted) for every integer field.
INT_BOUNDS = [
    (Join, "show_id", 1, MAX_ID),
    (Join, "since", 0, MAX_ID),
    (Vote, "question_id", 1, MAX_ID),
    (CloseQuestion, "question_id", 1, MAX_ID),
    (React, "count", 1, 50),
    (Deal, "price", 0, 10**12),
    (Deal, "units", 1, 1_000_000),
    (Deal, "per_buyer", 1, 1_000_000),
    (Deal, "ends_at_ms", 0, 2**53),
    (Pin, "product_id", 1, MAX_ID),
    (Unpin, "product_id", 1, MAX_ID),
    (DeleteMessage, "message_id", 1, MAX_ID),
    (Timeout, "minutes", 1, 7 * 24 * 60),
    (SlowMode, "seconds", 0, 3600),
]
INT_FIELDS = [(schema, field) for schema, field, _, _ in INT_BOUNDS]
STR_FIELDS = [
    (Chat, "text"),
    (Ask, "text"),
    (Announce, "text"),
    (CloseQuestion, "status"),
    (Timeout, "subject"),
    (Ban, "subject"),
]
REQUIRED = [
    (Join, "show_id"),
    (Chat, "text"),
    (Ask, "text"),
    (Vote, "question_id"),
    (CloseQuestion, "question_id"),
    (CloseQuestion, "status"),
    (Deal, "price"),
    (Deal, "units"),
    (Deal, "per_buyer"),
    (Deal, "ends_at_ms"),
    (Pin, "product_id"),
    (Unpin, "product_id"),
    (DeleteMessage, "message_id"),
    (Timeout, "subject"),
    (Timeout, "minutes"),
    (Ban, "subject"),
    (Announce, "text"),
    (SlowMode, "seconds"),
    (BlockedWords, "words"),
]


def name(value: Any) -> str:
    if isinstance(value, type):
        return value.__name__
    return value if isinstance(value, str) else repr(value)


def with_field(schema: type[BaseModel], field: str, value: Any) -> dict[str, Any]:
    return {**VALID[schema], field: value}


def refused(schema: type[BaseModel], data: Any) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as info:
        schema.model_validate(data)
    return info.value.errors()


def deal(**terms: int) -> Deal:
    return Deal.model_validate({**DEAL, **terms})


# words_of and folding.


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", []),
        ("!!! ... ???", []),
        ("this is a SCAM!", ["this", "is", "a", "scam"]),
        ("Hello hello HELLO", ["hello"]),
        ("scam, scam... scam?!", ["scam"]),
        ("b a b c a", ["b", "a", "c"]),  # distinct, in order of first use
        ("Straße STRASSE strasse", ["strasse"]),  # casefold, not lower
        ("σας ΣΑΣ", ["σασ"]),  # noqa: RUF001 - final sigma folds too
        (f"{FULL_SCAM} scam", ["scam"]),  # NFKC: full-width letters
        ("ﬁne fine", ["fine"]),  # NFKC: ligatures
        ("x² x2", ["x2"]),
        ("don't stop-me", ["don", "t", "stop", "me"]),
        ("snake_case 42\tend\nnext", ["snake_case", "42", "end", "next"]),
        ("Ünïcödé ÜNÏCÖDÉ", ["ünïcödé"]),
        ("cafe\u0301 café", ["café"]),  # NFKC composes the accent
    ],
)
def test_words_of(text: str, words: list[str]) -> None:
    assert words_of(text) == words


@pytest.mark.parametrize("word", ["नमस्ते", "สวัสดี"])
def test_words_with_combining_marks_are_single_words(word: str) -> None:
    assert words_of(f"{word}!") == [word]
    assert BlockedWords.model_validate({"words": [word]}).words == [word]


def test_invisible_format_characters_do_not_split_words() -> None:
    assert words_of("SC\u200bAM here") == ["scam", "here"]
    assert words_of("sc\u2060am") == ["scam"]


# Blocked words.


@pytest.mark.parametrize(
    ("words", "stored"),
    [
        ([], []),
        (["scam"], ["scam"]),
        (["Scam", "FAKE"], ["scam", "fake"]),
        (["  scam  ", "\tfake\n"], ["scam", "fake"]),
        (["scam", "Scam", "SCAM", FULL_SCAM], ["scam"]),
        (["Straße", "STRASSE"], ["strasse"]),
        (["ﬁne"], ["fine"]),
        (["snake_case", "42"], ["snake_case", "42"]),
        (["x" * 50], ["x" * 50]),
    ],
)
def test_blocked_words_are_folded_and_deduplicated(words: list[str], stored: list[str]) -> None:
    assert BlockedWords.model_validate({"words": words}).words == stored


@pytest.mark.parametrize("word", ["two words", "scam!", "e-mail", "don't", "½"], ids=repr)
def test_blocked_words_refuse_anything_but_one_word(word: str) -> None:
    errors = refused(BlockedWords, {"words": ["ok", word]})
    assert errors[0]["type"] == "value_error"
    assert "is not a single word" in errors[0]["msg"]


@pytest.mark.parametrize("word", ["", " ", "\t\n", "x" * 51, "a\tb", "sc\u202eam"], ids=repr)
def test_blocked_words_refuse_empty_long_and_control_entries(word: str) -> None:
    refused(BlockedWords, {"words": [word]})


@pytest.mark.parametrize("payload", ["scam", None, [1], [["scam"]], {"scam": True}], ids=repr)
def test_blocked_words_must_be_a_list_of_strings(payload: Any) -> None:
    refused(BlockedWords, {"words": payload})


def test_blocked_words_are_limited_in_number() -> None:
    assert MAX_BLOCKED_WORDS == 500
    words = [f"w{i}" for i in range(501)]
    assert len(BlockedWords.model_validate({"words": words[:-1]}).words) == 500
    assert refused(BlockedWords, {"words": words})[0]["type"] == "too_long"


@pytest.mark.parametrize(
    ("blocked", "message"),
    [
        (FULL_SCAM, "this is a scam"),
        ("scam", f"THIS IS A {FULL_SCAM}!"),
        ("Straße", "strasse prices"),
        ("ﬁne", "FINE print"),
    ],
)
def test_a_blocked_word_matches_the_words_of_a_message(blocked: str, message: str) -> None:
    (word,) = BlockedWords.model_validate({"words": [blocked]}).words
    assert word in words_of(message)


# Event schemas: strict, closed, bounded.


@pytest.mark.parametrize("schema", SCHEMAS, ids=name)
def test_each_valid_payload_is_accepted(schema: type[BaseModel]) -> None:
    schema.model_validate(VALID[schema])


@pytest.mark.parametrize("schema", SCHEMAS, ids=name)
def test_extra_fields_are_refused(schema: type[BaseModel]) -> None:
    errors = refused(schema, {**VALID[schema], "extra": 1})
    assert [(e["type"], e["loc"]) for e in errors] == [("extra_forbidden", ("extra",))]


@pytest.mark.parametrize("payload", [None, [], ["x"], "x", 1, True, 1.5], ids=repr)
@pytest.mark.parametrize("schema", SCHEMAS, ids=name)
def test_a_payload_must_be_an_object(schema: type[BaseModel], payload: Any) -> None:
    assert refused(schema, payload)[0]["type"] == "model_type"


@pytest.mark.parametrize(("schema", "field"), REQUIRED, ids=name)
def test_required_fields(schema: type[BaseModel], field: str) -> None:
    data = dict(VALID[schema])
    data.pop(field)
    errors = refused(schema, data)
    assert (errors[0]["type"], errors[0]["loc"]) == ("missing", (field,))


NOT_INTS = ["1", True, False, 1.0, 2.5, None, [1], {"value": 1}, b"1"]
NOT_STRS = [5, 1.5, True, None, ["x"], {"text": "x"}, b"x"]


@pytest.mark.parametrize(
    ("schema", "field", "bad"),
    [
        (schema, field, bad)
        for schema, field in INT_FIELDS
        for bad in NOT_INTS
        if not (bad is None and field == "since")  # null since: a snapshot
    ],
    ids=name,
)
def test_int_fields_take_only_ints(schema: type[BaseModel], field: str, bad: Any) -> None:
    errors = refused(schema, with_field(schema, field, bad))
    assert errors[0]["loc"] == (field,)


@pytest.mark.parametrize(
    ("schema", "field", "bad"),
    [
        (schema, field, bad)
        for schema, field in STR_FIELDS
        for bad in NOT_STRS
        if not (bad is None and schema is Announce)  # a null announcement clears it
    ],
    ids=name,
)
def test_str_fields_take_only_strings(schema: type[BaseModel], field: str, bad: Any) -> None:
    errors = refused(schema, with_field(schema, field, bad))
    assert errors[0]["loc"][0] == field


@pytest.mark.parametrize(("schema", "field", "low", "high"), INT_BOUNDS, ids=name)
def test_int_bounds(schema: type[BaseModel], field: str, low: int, high: int) -> None:
    for value in (low, low + 1, high - 1, high):
        parsed = schema.model_validate(with_field(schema, field, value))
        assert getattr(parsed, field) == value
    for value in (low - 1, high + 1, -(2**70), 2**70):
        errors = refused(schema, with_field(schema, field, value))
        assert errors[0]["loc"] == (field,)
        assert errors[0]["type"] in ("greater_than_equal", "less_than_equal")


@pytest.mark.parametrize("schema", SCHEMAS, ids=name)
def test_events_are_frozen(schema: type[BaseModel]) -> None:
    event = schema.model_validate(VALID[schema])
    for field in [*type(event).model_fields, "other"]:
        with pytest.raises(ValidationError) as info:
            setattr(event, field, None)
        assert info.value.errors()[0]["type"] == "frozen_instance"


def test_join_since_is_optional() -> None:
    assert Join.model_validate({"show_id": 7}).since is None
    assert Join.model_validate({"show_id": 7, "since": None}).since is None
    assert Join.model_validate({"show_id": 7, "since": 0}).since == 0
    assert Join.model_validate({"show_id": 7, "since": MAX_ID}).since == MAX_ID
    refused(Join, {"show_id": 7, "since": -1})
    refused(Join, {"show_id": 7, "since": MAX_ID + 1})
    refused(Join, {"show_id": 7, "since": "0"})


def test_react_counts_one_by_default() -> None:
    assert React.model_validate({}).count == 1


def test_empty_takes_an_empty_object_only() -> None:
    Empty.model_validate({})
    refused(Empty, {"show_id": 1})


def test_announce_text_is_required_but_may_be_null() -> None:
    assert Announce.model_validate({"text": None}).text is None
    assert Announce.model_validate({"text": "  sale  "}).text == "sale"
    refused(Announce, {})


@pytest.mark.parametrize(("schema", "limit"), [(Chat, 500), (Ask, 300), (Announce, 300)])
def test_texts_are_cleaned_with_their_limit(schema: type[BaseModel], limit: int) -> None:
    parsed = schema.model_validate({"text": "  " + "y" * limit + "  "})
    assert parsed.model_dump()["text"] == "y" * limit
    for bad in ("y" * (limit + 1), "   ", "", "a\x00b"):
        errors = refused(schema, {"text": bad})
        assert (errors[0]["type"], errors[0]["loc"]) == ("value_error", ("text",))


@pytest.mark.parametrize("status", ["answered", "dismissed"])
def test_close_question_statuses(status: str) -> None:
    assert CloseQuestion.model_validate({"question_id": 3, "status": status}).status == status


@pytest.mark.parametrize("status", ["Answered", "ANSWERED", "open", "", " answered"])
def test_close_question_refuses_other_statuses(status: str) -> None:
    refused(CloseQuestion, {"question_id": 3, "status": status})


@pytest.mark.parametrize("subject", ["g:" + "0123456789abcdef" * 2, "a:1", "a:42", "a:" + "9" * 18])
@pytest.mark.parametrize("schema", [Ban, Timeout])
def test_subjects(schema: type[BaseModel], subject: str) -> None:
    parsed = schema.model_validate(with_field(schema, "subject", subject))
    assert parsed.model_dump()["subject"] == subject


@pytest.mark.parametrize(
    "subject",
    [
        "",
        "g:",
        "g:abc",  # a guest id is 32 hex digits
        "a:0",
        "a:abc",  # an account id is a number
        "a:" + "9" * 19,
        "g:" + "Z9" * 32,
        "x:abc",
        "G:abc",
        "abc",
        "g:" + "a" * 65,
        "g:abc\n",
        " g:abc",
        "a:1 ",
        "g:ab-c",
        "g:ab_c",
        "g:\uff41bc",  # full-width letter
        "g:é",
    ],
    ids=repr,
)
@pytest.mark.parametrize("schema", [Ban, Timeout])
def test_bad_subjects_are_refused(schema: type[BaseModel], subject: str) -> None:
    errors = refused(schema, with_field(schema, "subject", subject))
    assert (errors[0]["type"], errors[0]["loc"]) == ("string_pattern_mismatch", ("subject",))


def test_pin_takes_an_optional_deal() -> None:
    assert Pin.model_validate({"product_id": 2}).deal is None
    assert Pin.model_validate({"product_id": 2, "deal": None}).deal is None
    assert Pin.model_validate({"product_id": 2, "deal": DEAL}).deal == Deal(**DEAL)


@pytest.mark.parametrize(
    ("terms", "loc"),
    [
        ({**DEAL, "extra": 1}, ("deal", "extra")),
        ({**DEAL, "price": "10"}, ("deal", "price")),
        ({**DEAL, "units": 0}, ("deal", "units")),
        ({**DEAL, "per_buyer": True}, ("deal", "per_buyer")),
        ({k: v for k, v in DEAL.items() if k != "ends_at_ms"}, ("deal", "ends_at_ms")),
        ([4000, 10, 2, NOW_MS], ("deal",)),
        ("cheap", ("deal",)),
    ],
)
def test_pin_deal_is_validated_strictly(terms: Any, loc: tuple[str, ...]) -> None:
    errors = refused(Pin, {"product_id": 2, "deal": terms})
    assert errors[0]["loc"] == loc


# Deal terms.


@pytest.mark.parametrize(
    "terms",
    [
        {},
        {"price": 0},
        {"price": PRODUCT_PRICE - 1},
        {"units": 1, "per_buyer": 1},
        {"units": 7, "per_buyer": 7},
        {"ends_at_ms": NOW_MS + 1},
        {"ends_at_ms": NOW_MS + DAY_MS},
    ],
    ids=repr,
)
def test_sane_deals_pass(terms: dict[str, int]) -> None:
    check_deal(deal(**terms), PRODUCT_PRICE, NOW_MS)


@pytest.mark.parametrize(
    ("terms", "field", "message"),
    [
        ({"price": PRODUCT_PRICE}, "deal.price", "below the product's price"),
        ({"price": PRODUCT_PRICE + 1}, "deal.price", "below the product's price"),
        ({"units": 5, "per_buyer": 6}, "deal.per_buyer", "cannot exceed the units"),
        ({"units": 1, "per_buyer": 1_000_000}, "deal.per_buyer", "cannot exceed the units"),
        ({"ends_at_ms": NOW_MS}, "deal.ends_at_ms", "end in the future"),
        ({"ends_at_ms": NOW_MS - 1}, "deal.ends_at_ms", "end in the future"),
        ({"ends_at_ms": 0}, "deal.ends_at_ms", "end in the future"),
        ({"ends_at_ms": NOW_MS + DAY_MS + 1}, "deal.ends_at_ms", "at most 24 hours"),
        ({"ends_at_ms": 2**53}, "deal.ends_at_ms", "at most 24 hours"),
    ],
    ids=repr,
)
def test_bad_deals_are_refused(terms: dict[str, int], field: str, message: str) -> None:
    with pytest.raises(AppError) as info:
        check_deal(deal(**terms), PRODUCT_PRICE, NOW_MS)
    assert info.value.code is ErrorCode.VALIDATION_ERROR
    assert info.value.status == 422
    assert info.value.field == field
    assert message in info.value.message


def test_a_deal_must_be_below_every_variants_price() -> None:
    variants = [
        {"id": 1, "sku": "M-1", "price": PRODUCT_PRICE},
        {"id": 2, "sku": "S-1", "price": 3000},
    ]
    check_deal(deal(price=2999), PRODUCT_PRICE, NOW_MS, variants)
    for price in (3000, 3500):
        with pytest.raises(AppError) as info:
            check_deal(deal(price=price), PRODUCT_PRICE, NOW_MS, variants)
        assert info.value.field == "deal.price"
        assert "S-1" in info.value.message
        assert info.value.details == {"variant_id": 2, "price": 3000}


def test_a_free_product_cannot_have_a_deal() -> None:
    with pytest.raises(AppError) as info:
        check_deal(deal(price=0), 0, NOW_MS)
    assert info.value.field == "deal.price"


def test_a_day_is_the_longest_deal() -> None:
    assert MAX_DEAL_SECONDS == 24 * 3600


# Question ranking.

MAX_VOTES = 2**20 - 1  # the documented exact range: votes < 2**20, ids < 2**32
MAX_QID = 2**32 - 1


@pytest.mark.parametrize(
    ("higher", "lower"),
    [
        ((1, 10), (0, 1)),  # more votes first, whatever the age
        ((1, MAX_QID), (0, 1)),
        ((2, 5), (1, 1)),
        ((MAX_VOTES, MAX_QID), (MAX_VOTES - 1, 1)),
        ((0, 1), (0, 2)),  # equal votes: the older question first
        ((5, 3), (5, 4)),
        ((0, MAX_QID - 1), (0, MAX_QID)),
        ((MAX_VOTES, 1), (MAX_VOTES, 2)),
        ((MAX_VOTES, MAX_QID - 1), (MAX_VOTES, MAX_QID)),
    ],
)
def test_question_ranking(higher: tuple[int, int], lower: tuple[int, int]) -> None:
    assert question_score(*higher) > question_score(*lower)


def test_question_scores_sort_by_votes_then_age() -> None:
    questions = [(v, q) for v in (0, 1, 2, 7, MAX_VOTES) for q in (1, 2, 99, 2**31, MAX_QID)]
    ranked = sorted(questions, key=lambda vq: question_score(*vq), reverse=True)
    assert ranked == sorted(questions, key=lambda vq: (-vq[0], vq[1]))


@pytest.mark.parametrize(
    ("votes", "qid"),
    list(itertools.product([0, 1, 2**19, MAX_VOTES], [1, 2, 2**31, MAX_QID - 1, MAX_QID])),
)
def test_question_scores_are_exact_doubles(votes: int, qid: int) -> None:
    score = question_score(votes, qid)
    assert isinstance(score, float)
    exact = votes * 2**32 + (2**32 - 1 - qid)
    assert int(score) == exact
    assert score < 2**53
    # Neighbours stay distinct: no two questions share a score.
    if qid > 1:
        assert question_score(votes, qid - 1) - score == 1
    if votes < MAX_VOTES:
        assert question_score(votes + 1, qid) - score == 2**32


# Who may do what.


def test_staff_and_hosts() -> None:
    assert frozenset({Role.OWNER, Role.HOST, Role.MODERATOR}) == rules.STAFF
    assert frozenset({Role.OWNER, Role.HOST}) == rules.HOSTS


@pytest.mark.parametrize(
    ("role", "allowed", "expected"),
    [
        (Role.OWNER, rules.STAFF, True),
        (Role.HOST, rules.STAFF, True),
        (Role.MODERATOR, rules.STAFF, True),
        (None, rules.STAFF, False),
        (Role.OWNER, rules.HOSTS, True),
        (Role.HOST, rules.HOSTS, True),
        (Role.MODERATOR, rules.HOSTS, False),
        (None, rules.HOSTS, False),
        (Role.OWNER, frozenset(), False),
    ],
)
def test_role_allows(role: Role | None, allowed: frozenset[Role], expected: bool) -> None:
    assert role_allows(role, allowed) is expected
    if expected:
        require(role, allowed, "pin products")
    else:
        with pytest.raises(AppError) as info:
            require(role, allowed, "pin products")
        assert info.value.code is ErrorCode.FORBIDDEN
        assert info.value.status == 403
        assert info.value.message == "only the show's staff may pin products"
