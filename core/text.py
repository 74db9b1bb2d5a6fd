"""Plain-text fields sent by people (chat, questions, names, addresses)."""

from __future__ import annotations

import unicodedata


def clean_text(value: str, limit: int) -> str:
    """Plain text, trimmed, 1..limit characters, no control characters but newlines and tabs.

    It is stored and sent as text; clients must never render it as HTML.
    """
    text = value.strip()
    if not text:
        raise ValueError("must not be empty")
    if len(text) > limit:
        raise ValueError(f"must be at most {limit} characters")
    for ch in text:
        if ch not in "\n\t" and unicodedata.category(ch) in ("Cc", "Cs"):
            raise ValueError("must not contain control characters")
    return text


def spreadsheet_safe(value: str) -> str:
    """A CSV cell a spreadsheet will not run as a formula (= + - @ start one): people write
    these texts."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
