"""Signed bearer tokens: round trips, expiry, tampering and malformed claims."""

from __future__ import annotations

import base64
import json
import time
from types import SimpleNamespace
from typing import Any

import jwt
import pytest

from core.identity import Principal
from server.accounts import tokens
from server.accounts.tokens import InvalidToken, TokenSigner

SECRET = "unit-test-secret-" + "x" * 64
OTHER_SECRET = "another-secret-" + "y" * 64
ACCOUNT = Principal("account", "a:42", "Ann", account_id=42)
GUEST = Principal("guest", "g:3f2a9c", "Viewer 12")


@pytest.fixture
def signer() -> TokenSigner:
    return TokenSigner(SECRET, account_ttl=600, guest_ttl=3600)


def craft(secret: str = SECRET, algorithm: str = "HS256", **changes: Any) -> str:
    """A token like the signer's, with claims changed; a claim set to None is left out."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": "liveshop",
        "sub": "a:42",
        "typ": "account",
        "name": "Ann",
        "iat": now,
        "exp": now + 60,
    }
    claims.update(changes)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, secret, algorithm=algorithm)


def test_account_round_trip(signer: TokenSigner) -> None:
    token, ttl = signer.issue(ACCOUNT)
    assert ttl == 600
    assert signer.verify(token) == ACCOUNT


def test_guest_round_trip(signer: TokenSigner) -> None:
    token, ttl = signer.issue(GUEST)
    assert ttl == 3600
    principal = signer.verify(token)
    assert principal == GUEST
    assert principal.account_id is None
    assert not principal.is_account


def test_claims_carry_lifetime_issuer_and_unique_id(signer: TokenSigner) -> None:
    first, _ = signer.issue(ACCOUNT)
    second, _ = signer.issue(ACCOUNT)
    claims = jwt.decode(first, SECRET, algorithms=["HS256"])
    assert claims["iss"] == "liveshop"
    assert (claims["sub"], claims["typ"], claims["name"]) == ("a:42", "account", "Ann")
    assert claims["exp"] - claims["iat"] == 600
    assert abs(claims["iat"] - time.time()) < 5
    assert claims["jti"] != jwt.decode(second, SECRET, algorithms=["HS256"])["jti"]
    assert jwt.get_unverified_header(first)["alg"] == "HS256"


def test_verify_accepts_a_token_from_another_signer_with_the_same_secret() -> None:
    token, _ = TokenSigner(SECRET, 60, 60).issue(ACCOUNT)
    assert TokenSigner(SECRET, 999, 999).verify(token) == ACCOUNT


def test_expired_token_is_refused(signer: TokenSigner, monkeypatch: pytest.MonkeyPatch) -> None:
    issued_at = time.time() - 601
    monkeypatch.setattr(tokens, "time", SimpleNamespace(time=lambda: issued_at))
    token, _ = signer.issue(ACCOUNT)
    with pytest.raises(InvalidToken, match="expired"):
        signer.verify(token)


def test_token_just_before_expiry_is_accepted(
    signer: TokenSigner, monkeypatch: pytest.MonkeyPatch
) -> None:
    issued_at = time.time() - 590
    monkeypatch.setattr(tokens, "time", SimpleNamespace(time=lambda: issued_at))
    token, _ = signer.issue(ACCOUNT)
    assert signer.verify(token) == ACCOUNT


def test_guest_ttl_applies_to_guests(signer: TokenSigner, monkeypatch: pytest.MonkeyPatch) -> None:
    # 20 minutes old: past the account TTL but within the guest TTL.
    issued_at = time.time() - 1200
    monkeypatch.setattr(tokens, "time", SimpleNamespace(time=lambda: issued_at))
    guest_token, _ = signer.issue(GUEST)
    account_token, _ = signer.issue(ACCOUNT)
    assert signer.verify(guest_token) == GUEST
    with pytest.raises(InvalidToken):
        signer.verify(account_token)


def test_token_from_the_future_is_refused(signer: TokenSigner) -> None:
    later = int(time.time()) + 3600
    with pytest.raises(InvalidToken):
        signer.verify(craft(iat=later, exp=later + 60))


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_tampered_payload_is_refused(signer: TokenSigner) -> None:
    token, _ = signer.issue(ACCOUNT)
    header, _payload, signature = token.split(".")
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    forged = _b64({**claims, "sub": "a:1", "name": "Admin"})
    with pytest.raises(InvalidToken, match="Signature verification failed"):
        signer.verify(f"{header}.{forged}.{signature}")


def test_tampered_signature_is_refused(signer: TokenSigner) -> None:
    token, _ = signer.issue(ACCOUNT)
    head, _, signature = token.rpartition(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    with pytest.raises(InvalidToken):
        signer.verify(f"{head}.{flipped}")


def test_token_signed_with_another_secret_is_refused(signer: TokenSigner) -> None:
    token, _ = TokenSigner(OTHER_SECRET, 600, 600).issue(ACCOUNT)
    with pytest.raises(InvalidToken, match="Signature verification failed"):
        signer.verify(token)


def test_other_hmac_algorithm_is_refused(signer: TokenSigner) -> None:
    with pytest.raises(InvalidToken, match="alg"):
        signer.verify(craft(algorithm="HS512"))


def test_alg_none_is_refused(signer: TokenSigner) -> None:
    unsigned = jwt.encode(jwt.decode(craft(), SECRET, algorithms=["HS256"]), None, algorithm="none")
    assert unsigned.endswith(".")
    with pytest.raises(InvalidToken):
        signer.verify(unsigned)


def test_hand_built_alg_none_token_is_refused(signer: TokenSigner) -> None:
    now = int(time.time())
    claims: dict[str, Any] = {"iss": "liveshop", "sub": "a:1", "typ": "account", "name": "x"}
    claims |= {"iat": now, "exp": now + 60}
    token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    with pytest.raises(InvalidToken):
        signer.verify(token)


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "a.b", "....."])
def test_garbage_is_refused(signer: TokenSigner, token: str) -> None:
    with pytest.raises(InvalidToken):
        signer.verify(token)


@pytest.mark.parametrize("claim", ["exp", "iat", "sub", "typ", "name", "iss"])
def test_missing_required_claim_is_refused(signer: TokenSigner, claim: str) -> None:
    missing: dict[str, Any] = {claim: None}
    token = craft(**missing)
    with pytest.raises(InvalidToken, match=claim):
        signer.verify(token)


@pytest.mark.parametrize(
    "changes",
    [
        {"iss": "someone-else"},
        {"aud": "elsewhere"},
        {"sub": 42},
        {"name": 7},
        {"name": ["Ann"]},
        {"typ": "admin"},
        {"typ": "guest"},  # a guest type with an account subject
        {"sub": "g:abc"},  # an account type with a guest subject
        {"sub": "a:"},
        {"sub": "a:-1"},
        {"sub": "a:1x"},
        {"sub": "42"},
        {"typ": "guest", "sub": "guest-1"},
    ],
)
def test_malformed_claims_are_refused(signer: TokenSigner, changes: dict[str, Any]) -> None:
    with pytest.raises(InvalidToken):
        signer.verify(craft(**changes))


def test_crafted_guest_with_valid_claims_is_accepted(signer: TokenSigner) -> None:
    assert signer.verify(craft(typ="guest", sub="g:xyz", name="G")) == Principal(
        "guest", "g:xyz", "G"
    )


def test_non_ascii_digit_subject_is_invalid_token(signer: TokenSigner) -> None:
    with pytest.raises(InvalidToken):
        signer.verify(craft(sub="a:²"))


def test_non_ascii_digits_in_an_account_subject_are_refused(signer: TokenSigner) -> None:
    with pytest.raises(InvalidToken):
        signer.verify(craft(sub="a:\u0663"))  # ARABIC-INDIC DIGIT THREE


@pytest.mark.parametrize(
    ("name", "shown"),
    [("Ann\x00", "Ann"), ("\u202eAnn\r\n", "Ann"), ("A\x1b[31mnn", "A[31mnn"), ("\x00", "?")],
    ids=repr,
)
@pytest.mark.parametrize("kind", ["account", "guest"])
def test_a_name_signed_before_the_text_rule_is_scrubbed(
    signer: TokenSigner, name: str, shown: str, kind: str
) -> None:
    # Guest tokens live 30 days: one issued before the rule must not carry a NUL into a
    # PostgreSQL write (the order's buyer name, the chat archive), nor lock its holder out.
    sub = "a:42" if kind == "account" else "g:3f2a9c"
    principal = signer.verify(craft(sub=sub, typ=kind, name=name))
    assert principal.display_name == shown
