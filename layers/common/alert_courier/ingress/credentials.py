"""Checks an inbound webhook credential in constant time against every currently valid value."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Sequence
from datetime import datetime

from alert_courier.ingress.rejection import WebhookRejected, unauthorized
from alert_courier.ingress.webhook import WebhookRequest

Authenticator = Callable[[WebhookRequest, object, Sequence[str], datetime], None]
"""(request, parsed JSON body or None if not parsed yet, valid secrets, now) -> None, or raises a 401."""
SecretLookup = Callable[[str], Sequence[str]]
SecretReread = Callable[[str], Sequence[str] | None]
"""source -> its secret's values read again (not from the cache), or None when re-read too recently."""
# Refusals a just-rotated secret explains; a stale timestamp or an untrusted certificate URL it does not.
REREAD_ON = frozenset({"unauthorized", "invalid_signature"})


def invalid_signature(reason: str) -> WebhookRejected:
    return WebhookRejected(401, "invalid_signature", reason)


def stale_timestamp(reason: str) -> WebhookRejected:
    return WebhookRejected(401, "stale_timestamp", reason)


def _utf8(text: str) -> bytes:
    """Any str to bytes, even one with lone surrogates (a hostile header), so comparing never raises."""
    return text.encode("utf-8", "surrogatepass")


def presented_secret(request: WebhookRequest) -> str | None:
    """The secret a sender presented: a Bearer token, or the password of Basic auth."""
    header = request.headers.get("authorization", "").strip()
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except ValueError:
            return None
        _, _, password = decoded.partition(":")
        return password or None
    return None


def matches_any(presented: str, valid: Sequence[str]) -> bool:
    """Constant-time comparison against each valid value (two are live during a rotation)."""
    presented_bytes = _utf8(presented)
    matched = False
    for candidate in valid:
        if candidate and hmac.compare_digest(presented_bytes, _utf8(candidate)):
            matched = True
    return matched


def signature_matches(message: bytes, presented_hex: str, valid: Sequence[str]) -> bool:
    """True if `presented_hex` is the hex HMAC-SHA256 of `message` under any valid secret (UTF-8 key)."""
    presented = _utf8(presented_hex.strip().lower())
    matched = False
    for candidate in valid:
        if not candidate:
            continue
        expected = hmac.new(_utf8(candidate), message, hashlib.sha256).hexdigest().encode("ascii")
        if hmac.compare_digest(expected, presented):
            matched = True
    return matched


def require_shared_secret(request: WebhookRequest, valid: Sequence[str]) -> None:
    presented = presented_secret(request)
    if presented is None:
        raise unauthorized("missing credentials: send Authorization: Bearer <token> (or Basic auth)")
    if not matches_any(presented, valid):
        raise unauthorized("invalid credentials")


def require_one_of(presented: Sequence[str | None], valid: Sequence[str], how: str) -> None:
    """Accept if any presented credential is valid; every one is compared, so timing shows nothing."""
    offered = [value for value in presented if value]
    if not offered:
        raise unauthorized(f"missing credentials: {how}")
    results = [matches_any(value, valid) for value in offered]
    if not any(results):
        raise unauthorized("invalid credentials")


def check_with_one_reread(
    check: Callable[[Sequence[str]], None], source: str, valid_secrets: SecretLookup, reread: SecretReread | None
) -> None:
    """Runs `check` on the cached secret values; if it refuses the credential, once more on the secret read again.

    A sender moved to a rotated secret is then accepted at once, not after the cache expires (senders do not
    retry a 401). `reread` rate-limits itself, so wrong credentials cannot make every request read the secret.
    """
    valid = valid_secrets(source)
    try:
        check(valid)
    except WebhookRejected as refusal:
        if reread is None or refusal.code not in REREAD_ON:
            raise
        fresh = reread(source)
        if fresh is None or tuple(fresh) == tuple(valid):
            raise
        check(fresh)


def authenticate_shared_secret(
    request: WebhookRequest, _document: object, valid: Sequence[str], _now: datetime
) -> None:
    """The common check every source gets unless it declares its own: Bearer token or Basic auth."""
    require_shared_secret(request, valid)
