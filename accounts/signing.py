"""Signing-key material: generation, encryption at rest, and the per-process key ring.

Private keys and HMAC secrets are stored encrypted with AES-256-GCM under a
key-encryption key (KEK) derived from JWT_KEY_ENCRYPTION_KEY; the key's `kid`
is the associated data, so a ciphertext moved to another row does not
decrypt. A database dump alone reveals no signing secret.

Every process keeps a ring of the active and verify-only keys, read from the
database. The shared cache holds a key-set version that rotation bumps:
- signing re-reads the version at most every SIGNING_KEY_REFRESH seconds, so
  every process signs with a new key within that time (5 s by default);
- an unknown `kid` asks the cache for the version (one round trip) and
  reloads from the database only if it changed, so a flood of made-up kids
  cannot cause a reload storm, and a real new kid is accepted at once. When
  the cache is down, reloads happen at most once per refresh interval.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from accounts.conf import auth_settings

logger = logging.getLogger(__name__)

ALGORITHMS = ("HS256", "RS256", "ES256", "EdDSA")
HMAC_ALGORITHMS = frozenset({"HS256"})
CIPHER_VERSION = "v1"
VERSION_CACHE_KEY = "auth:signing-keys:version"
UNKNOWN_VERSION = object()  # the cache did not answer


class KeyDecryptionError(Exception):
    """The key-encryption key does not open this key (wrong KEK, or tampering)."""


# --- Encryption at rest ---------------------------------------------------------------


def _kek(secret: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"mcp signing-key encryption"
    ).derive(secret.encode())


def _kek_secrets() -> list[str]:
    current = getattr(settings, "JWT_KEY_ENCRYPTION_KEY", "")
    if not current:
        raise ImproperlyConfigured("JWT_KEY_ENCRYPTION_KEY is not set.")
    return [current, *getattr(settings, "JWT_KEY_ENCRYPTION_KEY_FALLBACKS", [])]


def key_context(*, kid: str, algorithm: str, public_pem: str = "") -> bytes:
    """Associated data that binds a sealed secret to its row: a ciphertext copied to
    another row, or a row whose algorithm or public key was changed, does not open."""
    public_digest = hashlib.sha256(public_pem.encode()).hexdigest()
    return f"{kid}|{algorithm}|{public_digest}".encode()


def encrypt(plaintext: bytes, *, context: bytes) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(_kek(_kek_secrets()[0])).encrypt(nonce, plaintext, context)
    return f"{CIPHER_VERSION}:{base64.b64encode(nonce + sealed).decode()}"


def decrypt(token: str, *, context: bytes) -> bytes:
    version, _, payload = token.partition(":")
    if version != CIPHER_VERSION:
        raise KeyDecryptionError(f"unknown cipher version {version!r}")
    try:
        raw = base64.b64decode(payload, validate=True)
    except ValueError:
        raise KeyDecryptionError("the sealed key is not valid base64") from None
    nonce, sealed = raw[:12], raw[12:]
    for secret in _kek_secrets():  # current first, then previous KEKs
        try:
            return AESGCM(_kek(secret)).decrypt(nonce, sealed, context)
        except Exception:  # noqa: S112 - try the next key-encryption key
            continue
    raise KeyDecryptionError("no key-encryption key opens this signing key")


# --- Key material -----------------------------------------------------------------


@dataclass(frozen=True)
class KeyMaterial:
    algorithm: str
    private: bytes  # PEM for asymmetric keys, the raw secret for HMAC
    public_pem: str  # empty for HMAC


def generate(algorithm: str) -> KeyMaterial:
    if algorithm == "HS256":
        return KeyMaterial(algorithm, secrets.token_urlsafe(64).encode(), "")
    if algorithm == "RS256":
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    elif algorithm == "ES256":
        private_key = ec.generate_private_key(ec.SECP256R1())
    elif algorithm == "EdDSA":
        private_key = ed25519.Ed25519PrivateKey.generate()
    else:
        raise ValueError(f"Unsupported algorithm {algorithm!r}: use {', '.join(ALGORITHMS)}.")
    return _from_private_key(algorithm, private_key)


def from_pem(pem: bytes, algorithm: str | None = None) -> KeyMaterial:
    """Load a private key PEM; the algorithm follows from the key type."""
    private_key = serialization.load_pem_private_key(pem, password=None)
    if isinstance(private_key, rsa.RSAPrivateKey):
        detected = "RS256"
        if private_key.key_size < 2048:
            raise ValueError("RSA keys must have at least 2048 bits.")
    elif isinstance(private_key, ec.EllipticCurvePrivateKey):
        if not isinstance(private_key.curve, ec.SECP256R1):
            raise ValueError("EC keys must be on P-256 (ES256).")
        detected = "ES256"
    elif isinstance(private_key, ed25519.Ed25519PrivateKey):
        detected = "EdDSA"
    else:
        raise ValueError("Unsupported key type: use RSA, EC P-256 or Ed25519.")
    if algorithm and algorithm != detected:
        raise ValueError(f"This is a {detected} key, not {algorithm}.")
    return _from_private_key(detected, private_key)


def from_secret(secret: str) -> KeyMaterial:
    if len(secret.encode()) < 32:
        raise ValueError("An HMAC secret must be at least 32 bytes.")
    return KeyMaterial("HS256", secret.encode(), "")


def _from_private_key(algorithm: str, private_key) -> KeyMaterial:
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return KeyMaterial(algorithm, private_pem, public_pem)


def kid_for_secret(secret: str) -> str:
    """The kid that tokens signed with an environment HMAC secret carry.

    Deterministic so that importing JWT_SECRET_KEY keeps every token it signed
    before valid. A hash of a 32+ byte random secret reveals nothing the
    signature does not.
    """
    digest = hashlib.sha256(b"mcp-jwt-kid:" + secret.encode()).digest()
    return base64.urlsafe_b64encode(digest[:12]).rstrip(b"=").decode()


def new_kid() -> str:
    return secrets.token_urlsafe(12)


# --- The per-process key ring ----------------------------------------------------------


@dataclass(frozen=True)
class RingKey:
    kid: str
    algorithm: str
    signing_key: object  # bytes for HMAC, a cryptography key object otherwise
    verifying_key: object


@dataclass(frozen=True)
class Ring:
    keys: dict[str, RingKey]
    active_kid: str | None
    version: object


class KeyRing:
    """Active and verify-only keys, loaded from the database, shared by the process's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ring: Ring | None = None
        self._checked_at = 0.0
        self._reloaded_at = 0.0

    def clear(self) -> None:
        with self._lock:
            self._ring = None
            self._checked_at = self._reloaded_at = 0.0

    def current(self) -> Ring:
        return self._current(max_age=auth_settings.SIGNING_KEY_REFRESH)

    def signing_key(self) -> RingKey:
        ring = self._current(max_age=auth_settings.SIGNING_KEY_REFRESH)
        if ring.active_kid is None or ring.active_kid not in ring.keys:
            from accounts.services import signing_key_ensure_active

            signing_key_ensure_active()  # first start: make or import the first key
            ring = self._reload()
        if ring.active_kid is None or ring.active_kid not in ring.keys:
            raise ImproperlyConfigured(
                "No usable active signing key: JWT_KEY_ENCRYPTION_KEY cannot open it (see the "
                "log), or it could not be created. Fix the key-encryption key, or run "
                "`manage.py rotate_signing_key`."
            )
        return ring.keys[ring.active_kid]

    def verification_key(self, kid: str) -> RingKey | None:
        ring = self._current(max_age=auth_settings.SIGNING_KEY_REFRESH)
        key = ring.keys.get(kid)
        if key is not None:
            return key
        # Unknown kid: a rotation elsewhere, or garbage. Reload only if the
        # shared version moved (so garbage costs one cache read, never a
        # database reload); without the cache, at most once per refresh interval.
        version = self._shared_version()
        if version is UNKNOWN_VERSION:
            if time.monotonic() - self._reloaded_at < auth_settings.SIGNING_KEY_REFRESH:
                return None
        elif version == ring.version:
            return None
        return self._reload().keys.get(kid)

    def _current(self, *, max_age: float) -> Ring:
        ring = self._ring
        if ring is None:
            return self._reload()
        if time.monotonic() - self._checked_at > max_age:
            self._checked_at = time.monotonic()
            version = self._shared_version()
            if version is UNKNOWN_VERSION or version != ring.version:
                return self._reload()
        return ring

    def _shared_version(self):
        try:
            return caches[auth_settings.CACHE_ALIAS].get(VERSION_CACHE_KEY)
        except Exception as exc:  # the database stays the source of truth
            logger.warning("signing keys: cache unavailable (%s)", type(exc).__name__)
            return UNKNOWN_VERSION

    def _reload(self) -> Ring:
        from accounts.models import SigningKey

        with self._lock:
            version = self._shared_version()
            rows = SigningKey.objects.filter(
                state__in=[SigningKey.State.ACTIVE, SigningKey.State.VERIFY_ONLY]
            )
            keys, active = {}, None
            for row in rows:
                try:
                    keys[row.kid] = _ring_key(row)
                except Exception as exc:
                    # One bad row must not take authentication down with it.
                    logger.error("signing key %s cannot be loaded: %s", row.kid, exc)
                    continue
                if row.state == SigningKey.State.ACTIVE:
                    active = row.kid
            self._ring = Ring(keys=keys, active_kid=active, version=version)
            self._checked_at = self._reloaded_at = time.monotonic()
            return self._ring


def row_context(row) -> bytes:
    return key_context(kid=row.kid, algorithm=row.algorithm, public_pem=row.public_key)


def _ring_key(row) -> RingKey:
    private = decrypt(row.encrypted_private_key, context=row_context(row))
    if row.algorithm in HMAC_ALGORITHMS:
        return RingKey(row.kid, row.algorithm, private, private)
    private_key = serialization.load_pem_private_key(private, password=None)
    return RingKey(row.kid, row.algorithm, private_key, private_key.public_key())


def publish_new_version() -> None:
    """Tell every process that the key set changed.

    Raises RevocationStoreUnavailable when the cache does not answer: a
    rotation or retirement that other processes would never hear of must not
    look successful. Callers publish inside their transaction (so a failure
    rolls the change back) and again on commit (so a process that reloaded in
    between, seeing the old rows, reloads once more).
    """
    from accounts.exceptions import RevocationStoreUnavailable

    try:
        caches[auth_settings.CACHE_ALIAS].set(VERSION_CACHE_KEY, secrets.token_hex(8), None)
    except Exception as exc:
        raise RevocationStoreUnavailable() from exc


def published_keys() -> list[dict]:
    """The JWKS: public halves of the asymmetric keys this process verifies with.

    Built from the decrypted keys, whose stored public half the encryption
    context authenticates: a public key written into the database by hand is
    never published.
    """
    ring = key_ring.current()
    return [
        public_jwk(key.algorithm, key.kid, key.verifying_key)
        for key in ring.keys.values()
        if key.algorithm not in HMAC_ALGORITHMS
    ]


key_ring = KeyRing()


def public_jwk(algorithm: str, kid: str, public_key) -> dict:
    """RFC 7517 JWK of a public key (never for HMAC keys)."""
    converter = {"RS256": RSAAlgorithm, "ES256": ECAlgorithm, "EdDSA": OKPAlgorithm}[algorithm]
    jwk = json.loads(converter.to_jwk(public_key))
    return {**jwk, "kid": kid, "alg": algorithm, "use": "sig"}
