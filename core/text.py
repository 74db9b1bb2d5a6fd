"""The one rule for text people write: names, chat, questions, announcements, product and show
texts, addresses. Every schema takes such text through `plain_text` (a pydantic validator), so
the rule lives here and nowhere else.

The rule, after trimming leading and trailing whitespace:
- 1..limit characters (an optional field may be empty);
- no C0 control (U+0000-001F), DEL (U+007F) or C1 control (U+0080-009F), except LF and TAB in a
  multi-line field; a multi-line field turns a pasted CRLF into LF first, a lone CR is refused;
- no line or paragraph separator (U+2028, U+2029) in a single-line field;
- no bidirectional embedding, override or isolate (U+202A-202E, U+2066-2069): they reorder what
  comes after them, so a name or a message could pass for something else;
- no lone surrogate (it cannot be stored or sent as UTF-8).

Kept on purpose: the joiners ZWJ U+200D and ZWNJ U+200C (Devanagari conjuncts, emoji sequences),
the bidi marks LRM U+200E, RLM U+200F and ALM U+061C (they order punctuation in right-to-left
text and override nothing), and every letter of every script.

It is stored and sent as text; clients must never render it as HTML.
"""

from __future__ import annotations

from pydantic import AfterValidator

BIDI_CONTROLS = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))
LINE_SEPARATORS = frozenset("\u2028\u2029")


def refusal(ch: str, *, multiline: bool = False) -> str | None:
    """Why `ch` may not appear in a field, or None when it may."""
    code = ord(ch)
    if code < 0x20 or 0x7F <= code <= 0x9F:
        if multiline and ch in "\n\t":
            return None
        if not multiline and ch in "\n\r":
            return "must be a single line"
        return f"must not contain control characters (U+{code:04X})"
    if ch in BIDI_CONTROLS:
        return f"must not contain bidirectional control characters (U+{code:04X})"
    if 0xD800 <= code <= 0xDFFF:
        return f"must not contain control characters (a lone surrogate, U+{code:04X})"
    if ch in LINE_SEPARATORS and not multiline:
        return "must be a single line"
    return None


def clean_text(value: str, limit: int, *, multiline: bool = False, optional: bool = False) -> str:
    """`value` trimmed, when it follows the rule above; otherwise ValueError saying why."""
    text = value.replace("\r\n", "\n") if multiline else value
    text = text.strip()
    if not text:
        if optional:
            return ""
        raise ValueError("must not be empty")
    if len(text) > limit:
        raise ValueError(f"must be at most {limit} characters")
    for ch in text:
        if (why := refusal(ch, multiline=multiline)) is not None:
            raise ValueError(why)
    return text


def plain_text(limit: int, *, multiline: bool = False, optional: bool = False) -> AfterValidator:
    """The rule as a pydantic validator: `Annotated[str, plain_text(60)]`."""

    def check(value: str) -> str:
        return clean_text(value, limit, multiline=multiline, optional=optional)

    return AfterValidator(check)


def scrub(value: str) -> str:
    """`value` without what the rule refuses, for text from before the rule (a signed token's
    name): shown and stored, it can do no harm, and nobody is locked out by it."""
    kept = "".join(ch for ch in value if refusal(ch) is None).strip()
    return kept or "?"


def spreadsheet_safe(value: str) -> str:
    """A CSV cell a spreadsheet will not run as a formula (= + - @ start one): people write
    these texts."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
