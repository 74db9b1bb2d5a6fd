"""Templates per kind and language, each a subject, a text part and an HTML part (jinja2).

Jinja2 because the HTML part shows what buyers and shops wrote (names, addresses, titles):
autoescaping escapes every value unless a template says otherwise, where string.Template would
need each value escaped by hand, and one forgotten would be an injection. The text part is not
escaped (it is plain text); the subject is folded onto one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from server.mail.rules import format_money, language_of

TEMPLATES = Path(__file__).resolve().parent / "templates"
KINDS = ("order_confirmation", "refund")

_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,  # a missing value is an error, never an empty hole
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str


class UnknownTemplate(Exception):
    pass


def render(kind: str, language: str, data: dict[str, Any]) -> Rendered:
    """Raises UnknownTemplate for a kind without templates; jinja2's errors for bad data."""
    if kind not in KINDS:
        raise UnknownTemplate(kind)
    lang = language_of(language)
    context = {
        **data,
        "money": partial(_money, currency=str(data.get("currency", "")), language=lang),
    }
    subject = _env.get_template(f"{lang}/{kind}.subject.txt").render(context)
    return Rendered(
        subject=" ".join(subject.split()),  # one line: no header can be injected
        text=_env.get_template(f"{lang}/{kind}.txt").render(context),
        html=_env.get_template(f"{lang}/{kind}.html").render(context),
    )


def _money(minor: int, currency: str, language: str) -> str:
    return format_money(int(minor), currency, language)
