"""Pure email rules: money per language, retry backoff, which SMTP answers are final."""

from __future__ import annotations

# ISO 4217 minor-unit exponents that are not 2 (the rest, EUR USD GBP PLN INR NPR..., have 2).
_ZERO_DECIMALS = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND"}
    | {"VUV", "XAF", "XOF", "XPF"}
)
_THREE_DECIMALS = frozenset({"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"})
# Symbols as the player's Intl formats show them in both languages; other currencies show
# their code.
_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "INR": "₹"}
NBSP = "\u00a0"

LANGUAGES = ("en", "de")


def language_of(value: str | None) -> str:
    """German for "de", English otherwise."""
    return "de" if value == "de" else "en"


def exponent(currency: str) -> int:
    if currency in _ZERO_DECIMALS:
        return 0
    return 3 if currency in _THREE_DECIMALS else 2


def format_money(minor: int, currency: str, language: str) -> str:
    """Minor units as money: "€1,234.50" in English, "1.234,50 €" in German (a no-break space
    between number and symbol, as the browser's Intl writes it); JPY has no decimals."""
    digits = exponent(currency)
    whole, fraction = divmod(abs(minor), 10**digits)
    german = language_of(language) == "de"
    grouped = f"{whole:,}".replace(",", "." if german else ",")
    number = grouped + (("," if german else ".") + f"{fraction:0{digits}d}" if digits else "")
    sign = "-" if minor < 0 else ""
    symbol = _SYMBOLS.get(currency)
    if german:
        return f"{sign}{number}{NBSP}{symbol or currency}"
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{currency}{NBSP}{number}"


def backoff(attempts: int, base: float, cap: float) -> float:
    """Seconds to wait after the `attempts`-th failed attempt: base, 2 base, 4 base... at most
    `cap`."""
    if attempts < 1:
        return 0.0
    # The exponent is bounded before it is raised: 2**attempts of a large count overflows.
    return min(cap, base * float(2 ** min(attempts - 1, 62)))


def permanent(code: int) -> bool:
    """An SMTP reply that will not change on a retry (5xx); 4xx are temporary."""
    return 500 <= code <= 599
