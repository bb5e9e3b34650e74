"""Amazon SNS HTTPS deliveries: what is signed, which URLs to trust, and the RSA check (no AWS SDK involved).

SNS signs every message it POSTs to an HTTPS subscriber. Verifying it (AWS' own validators do the same):
1. `SignatureVersion` "1" is RSA PKCS#1 v1.5 with SHA-1, "2" the same with SHA-256;
2. `SigningCertURL` is https, on an `sns.<region>.amazonaws.com` (or `.amazonaws.com.cn`) host, ends in `.pem`;
3. the string to sign is "Key\\nValue\\n" for a fixed, alphabetical set of keys, which depends on `Type`;
4. the certificate, fetched once per URL per container, verifies the base64 `Signature` over it.
On top of that we refuse stale messages (replays) and topics nobody configured, and do every cheap check
before the network: an unknown topic or a foreign certificate host never makes us fetch anything.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from alert_courier.ingress.credentials import invalid_signature, stale_timestamp
from alert_courier.ingress.rejection import WebhookRejected

MESSAGE_TYPE_HEADER = "x-amz-sns-message-type"
NOTIFICATION = "Notification"
SUBSCRIPTION_CONFIRMATION = "SubscriptionConfirmation"
UNSUBSCRIBE_CONFIRMATION = "UnsubscribeConfirmation"

_CONFIRMATION_KEYS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
SIGNED_KEYS: dict[str, tuple[str, ...]] = {
    NOTIFICATION: ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    SUBSCRIPTION_CONFIRMATION: _CONFIRMATION_KEYS,
    UNSUBSCRIBE_CONFIRMATION: _CONFIRMATION_KEYS,
}
"""Per message type, the keys in the string to sign, in order. `Subject` only when the message has one."""
OPTIONAL_SIGNED_KEYS = frozenset({"Subject"})

SIGNATURE_VERSIONS = {"1": "SHA1", "2": "SHA256"}
MAX_AGE = timedelta(hours=1)
"""SNS retries an HTTPS delivery for at most an hour; anything older is a replay."""
MAX_CERTIFICATE_BYTES = 64 * 1024
FETCH_TIMEOUT_SECONDS = 5.0

_SNS_HOST = re.compile(r"sns\.[a-z0-9-]{3,}\.amazonaws\.com(\.cn)?", re.IGNORECASE)
_URL_FORBIDDEN = re.compile(r"[\s\\@]")

CertificateFetcher = Callable[[str], bytes]
"""URL -> PEM bytes; raises on any failure (the default uses httpx with TLS verification)."""
SubscriptionConfirmer = Callable[[str], None]
"""Visits a SubscribeURL; raises on any failure."""


def untrusted_certificate_url(reason: str) -> WebhookRejected:
    return WebhookRejected(401, "untrusted_certificate_url", reason)


def untrusted_subscribe_url(reason: str) -> WebhookRejected:
    return WebhookRejected(401, "untrusted_subscribe_url", reason)


def topic_not_allowed(topic_arn: str) -> WebhookRejected:
    return WebhookRejected(
        403,
        "topic_not_allowed",
        f"SNS topic {topic_arn[:256]!r} is not in CLOUDWATCH_TOPIC_ARNS; add it to accept its messages",
    )


def certificate_unavailable(reason: str) -> WebhookRejected:
    """Transient (the certificate could not be fetched): SNS retries a 5xx, so no message is lost."""
    return WebhookRejected(503, "certificate_unavailable", reason)


def is_sns_url(url: object, *, certificate: bool = False) -> bool:
    """https on an SNS host (any region, GovCloud, China), default port, no user info; a `.pem` path if a cert."""
    if not isinstance(url, str) or _URL_FORBIDDEN.search(url):
        return False
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    host = parts.hostname or ""
    if parts.scheme != "https" or port not in (None, 443) or not _SNS_HOST.fullmatch(host):
        return False
    if parts.netloc.lower() not in (host, f"{host}:443"):
        return False
    return not certificate or (parts.path.endswith(".pem") and not parts.query and not parts.fragment)


def string_to_sign(message: Mapping[str, Any]) -> bytes:
    """The exact bytes SNS signed: "Key\\nValue\\n" per signed key present, values as received (unescaped)."""
    message_type = message.get("Type")
    keys = SIGNED_KEYS.get(message_type) if isinstance(message_type, str) else None
    if keys is None:
        raise invalid_signature(f"not an SNS message: Type {str(message_type)[:40]!r} is not one SNS sends")
    parts = []
    for key in keys:
        value = message.get(key)
        if value is None and key in OPTIONAL_SIGNED_KEYS:
            continue
        if not isinstance(value, str):
            raise invalid_signature(f"SNS {message_type} without a string {key}: it cannot have been signed by SNS")
        parts.append(f"{key}\n{value}\n")
    return "".join(parts).encode("utf-8", "surrogatepass")


def sns_timestamp(message: Mapping[str, Any]) -> datetime:
    value = message.get("Timestamp")
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None:
        raise invalid_signature("SNS message without a valid Timestamp")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class CertificateStore:
    """Signing certificates' public keys by URL, kept for the container's life (SNS rotates them rarely)."""

    def __init__(self, fetch: CertificateFetcher | None = None, *, max_entries: int = 16) -> None:
        self._fetch = fetch or fetch_certificate
        self._keys: OrderedDict[str, Any] = OrderedDict()
        self._max_entries = max_entries
        self._lock = threading.Lock()
        self.fetches = 0

    def public_key(self, url: str) -> Any:
        with self._lock:
            if url in self._keys:
                self._keys.move_to_end(url)
                return self._keys[url]
        try:
            pem = self._fetch(url)
        except Exception as error:  # any transport failure: transient, SNS will retry
            reason = f"the SNS signing certificate could not be fetched ({type(error).__name__})"
            raise certificate_unavailable(reason) from None
        key = _rsa_public_key(pem)
        with self._lock:
            self.fetches += 1
            self._keys[url] = key
            while len(self._keys) > self._max_entries:
                self._keys.popitem(last=False)
        return key

    def clear(self) -> None:
        with self._lock:
            self._keys.clear()


def fetch_certificate(url: str) -> bytes:
    import httpx  # only containers that receive SNS over HTTPS pay for the import

    with httpx.Client(timeout=FETCH_TIMEOUT_SECONDS, follow_redirects=False) as client:
        response = client.get(url)
        response.raise_for_status()
        if len(response.content) > MAX_CERTIFICATE_BYTES:
            raise ValueError("certificate too large")
        return response.content


def confirm_subscription(url: str) -> None:
    import httpx

    with httpx.Client(timeout=FETCH_TIMEOUT_SECONDS, follow_redirects=False) as client:
        client.get(url).raise_for_status()


DEFAULT_CERTIFICATES = CertificateStore()
"""The container-wide cache used unless a test or caller injects its own store."""


def _rsa_public_key(pem: bytes) -> Any:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        key = x509.load_pem_x509_certificate(pem).public_key()
    except ValueError:
        raise certificate_unavailable("the SNS signing certificate URL did not return a PEM certificate") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise invalid_signature("the SNS signing certificate does not hold an RSA key")
    return key


def verify_signature(message: Mapping[str, Any], public_key: Any) -> None:
    """Raises invalid_signature unless `Signature` is SNS' RSA signature of the message under `public_key`."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    version = message.get("SignatureVersion")
    algorithm = {"1": hashes.SHA1(), "2": hashes.SHA256()}.get(version) if isinstance(version, str) else None
    if algorithm is None:
        raise invalid_signature(f"unsupported SignatureVersion {str(version)[:8]!r}: SNS uses 1 or 2")
    signature = _signature_bytes(message)
    try:
        public_key.verify(signature, string_to_sign(message), padding.PKCS1v15(), algorithm)
    except InvalidSignature:
        raise invalid_signature("the SNS signature does not match the message") from None


def _signature_bytes(message: Mapping[str, Any]) -> bytes:
    value = message.get("Signature")
    if not isinstance(value, str) or not value:
        raise invalid_signature("SNS message without a Signature")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise invalid_signature("the SNS Signature is not base64") from None


def verify_sns_message(
    message: object,
    *,
    allowed_topics: Collection[str],
    now: datetime,
    certificates: CertificateStore | None = None,
    max_age: timedelta = MAX_AGE,
) -> Mapping[str, Any]:
    """Checks an SNS HTTPS message before anything in it is trusted; returns it, or raises a WebhookRejected.

    Order: shape and signature version, certificate URL, SubscribeURL (confirmations), freshness, topic — all
    without the network — then the certificate (cached) and the RSA signature itself.
    """
    if not isinstance(message, Mapping):
        raise invalid_signature("not an SNS message: the body is not a JSON object")
    string_to_sign(message)  # every signed key present and a string, and a Type SNS sends
    version = message.get("SignatureVersion")
    if not isinstance(version, str) or version not in SIGNATURE_VERSIONS:
        raise invalid_signature(f"unsupported SignatureVersion {str(version)[:8]!r}: SNS uses 1 or 2")
    certificate_url = message.get("SigningCertURL")
    if not is_sns_url(certificate_url, certificate=True):
        raise untrusted_certificate_url(
            "SigningCertURL must be an https .pem URL on an sns.<region>.amazonaws.com host, "
            f"not {str(certificate_url)[:120]!r}"
        )
    if message["Type"] == SUBSCRIPTION_CONFIRMATION and not is_sns_url(message.get("SubscribeURL")):
        raise untrusted_subscribe_url("SubscribeURL must be an https URL on an sns.<region>.amazonaws.com host")
    sent_at = sns_timestamp(message)
    if abs(now - sent_at) > max_age:
        raise stale_timestamp(
            f"SNS message Timestamp {sent_at.isoformat()} is more than {int(max_age.total_seconds())} s from now"
        )
    topic_arn = str(message["TopicArn"])
    if topic_arn not in allowed_topics:
        raise topic_not_allowed(topic_arn)
    store = certificates or DEFAULT_CERTIFICATES
    verify_signature(message, store.public_key(str(certificate_url)))
    return message
