"""Writes for accounts: users, logins (sessions) and token revocation."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth import password_validation
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from rest_framework.exceptions import ValidationError
from rest_framework_simplejwt.exceptions import ExpiredTokenError, TokenError
from rest_framework_simplejwt.utils import datetime_to_epoch

from accounts import apikeys, audit, revocation, signing
from accounts.conf import auth_settings
from accounts.exceptions import (
    BadCredentials,
    InvalidScope,
    InvalidToken,
    TokenExpired,
    TokenRevoked,
)
from accounts.models import ApiKey, AuditEvent, LoginSession, Role, SigningKey, User
from accounts.scopes import (
    UnknownScopeError,
    expand_scopes,
    ordered,
    parse_scope_string,
    scope_string,
)
from accounts.tokens import AccessToken, RefreshToken

RevokeReason = LoginSession.RevokeReason


@dataclass(frozen=True)
class IssuedTokens:
    access: AccessToken
    refresh: RefreshToken
    scopes: frozenset[str]

    def as_response(self) -> dict:
        return {
            "access_token": str(self.access),
            "refresh_token": str(self.refresh),
            "token_type": "bearer",
            "expires_in": _seconds_to_live(self.access),
            "refresh_expires_in": _seconds_to_live(self.refresh),
            "scope": scope_string(self.scopes),
        }


def _seconds_to_live(token: AccessToken | RefreshToken) -> int:
    """The token's configured lifetime (1800 for the default access token), or what is
    left of its session when that ends first. Not `exp - now`: `exp` counts from the
    whole second the token was made in, so that would say 1799."""
    lifetime = int(token.lifetime.total_seconds())
    if token["exp"] >= datetime_to_epoch(token.current_time + token.lifetime):
        return lifetime
    return max(0, min(lifetime, int(token["exp"] - time.time())))  # cut short by the session


def user_create(*, username: str, password: str | None, role_name: str, email: str = "") -> User:
    """Create a user; the password must pass AUTH_PASSWORD_VALIDATORS."""
    role = Role.objects.get(name=role_name)
    if password is not None:
        password_validation.validate_password(password, User(username=username, email=email))
    return User.objects.create_user(username, password, role=role, email=email)


def scopes_requested(*, requested: str | None, granted: frozenset[str]) -> frozenset[str] | None:
    """Parse a login's `scope` parameter; None means "everything the role grants".

    Raises InvalidScope for an unknown name or a scope the role lacks.
    """
    if requested is None or not requested.strip():
        return None
    try:
        wanted = expand_scopes(parse_scope_string(requested))
    except UnknownScopeError as exc:
        raise InvalidScope(str(exc)) from exc
    refused = wanted - granted
    if refused:
        raise InvalidScope("Scope not granted to this account: " + scope_string(refused))
    return wanted


def _mint(*, session: LoginSession, user: User) -> IssuedTokens:
    granted = user.scopes
    if session.requested_scopes is not None:
        # Recomputed from the current role on every refresh: a narrowed
        # login stays narrow, and a demoted user loses what the role lost.
        granted = granted & frozenset(session.requested_scopes)

    # A token issued now must not look older than the revocation store's marker.
    revocation.ensure_kept_since()
    refresh = RefreshToken()
    refresh["sub"] = str(user.pk)
    refresh["sid"] = str(session.id)
    refresh["exp"] = min(refresh["exp"], int(session.expires_at.timestamp()))

    access = AccessToken()
    access["sub"] = str(user.pk)
    access["sid"] = str(session.id)
    access["scope"] = scope_string(granted)
    # Who the caller is travels with the token, so /auth/me reads no row: a rename,
    # a role change or a deactivation ends the access tokens issued before it
    # (accounts/signals.py), and a refresh carries the new values.
    access["username"] = user.username
    access["role"] = user.role.name
    access["exp"] = min(access["exp"], int(session.expires_at.timestamp()))
    return IssuedTokens(access=access, refresh=refresh, scopes=granted)


@transaction.atomic
def session_start(
    *, user: User, requested_scopes: frozenset[str] | None, client_ip: str | None
) -> IssuedTokens:
    """A successful login: a new session and its first token pair.

    The password was checked before this runs (Argon2 takes a while); if it
    changed, or the user was deactivated meanwhile, the login is refused.
    """
    still_valid = (
        User.objects.select_for_update()
        .filter(pk=user.pk, password=user.password, is_active=True)
        .exists()
    )
    if not still_valid:
        raise BadCredentials()
    now = timezone.now()
    session = LoginSession(
        id=uuid.uuid4(),
        user=user,
        created_at=now,
        expires_at=now + auth_settings.SESSION_MAX_AGE,
        requested_scopes=sorted(requested_scopes) if requested_scopes is not None else None,
        client_ip=client_ip,
    )
    issued = _mint(session=session, user=user)
    session.refresh_jti = issued.refresh["jti"]
    session.save(force_insert=True)
    audit.record(
        audit.LOGIN,
        actor=user,
        auth_method="password",
        target_type="session",
        target_id=session.id,
        detail={"via": "api", "scopes": scope_string(issued.scopes)},
    )
    return issued


def _decode_refresh(raw_token: str) -> RefreshToken:
    try:
        token = RefreshToken(raw_token)
    except ExpiredTokenError:
        raise TokenExpired() from None
    except TokenError:
        raise InvalidToken() from None
    try:
        uuid.UUID(str(token.get("sid")))
        int(token["sub"])
    except (ValueError, TypeError):
        raise InvalidToken() from None
    return token


def session_refresh(*, raw_refresh_token: str) -> IssuedTokens:
    """Rotate a refresh token: exactly one use of each, reuse revokes the login.

    The conditional UPDATE is what makes two concurrent refreshes with one
    token produce exactly one success on SQLite and PostgreSQL alike.
    """
    token = _decode_refresh(raw_refresh_token)
    sid, jti = token["sid"], token["jti"]
    with transaction.atomic():
        session = (
            LoginSession.objects.select_related("user__role")
            .filter(pk=sid, user_id=int(token["sub"]))
            .first()
        )
        if session is None:
            raise InvalidToken()
        if session.revoked_at is not None:
            raise TokenRevoked()
        if session.expires_at <= timezone.now():
            raise InvalidToken("Session has reached its maximum age: log in again")
        if not session.user.is_active:
            raise TokenRevoked()
        if session.refresh_jti == jti:
            issued = _mint(session=session, user=session.user)
            rotated = LoginSession.objects.filter(
                pk=sid, refresh_jti=jti, revoked_at__isnull=True
            ).update(refresh_jti=issued.refresh["jti"], refreshed_at=timezone.now())
            if rotated == 1:
                return issued
    # A consumed refresh token came back (or lost a race with its twin): it may
    # have been stolen, so end the whole login (RFC 9700 section 4.14.2).
    session_revoke(session_ids=[sid], reason=RevokeReason.REUSE)
    audit.record(
        audit.REFRESH_REUSE,
        outcome=AuditEvent.Outcome.FAILURE,
        actor=int(token["sub"]),
        target_type="session",
        target_id=sid,
        detail={"consequence": "every token of this login is revoked"},
    )
    raise TokenRevoked("Refresh token was already used: every token of this login is revoked")


def session_revoke(*, session_ids: Iterable[str], reason: str) -> None:
    session_ids = [str(sid) for sid in session_ids if sid]
    if not session_ids:
        return
    # The durable record first: if the cache is down this still stops refresh.
    LoginSession.objects.filter(pk__in=session_ids, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_reason=reason
    )
    revocation.revoke_sessions(session_ids=session_ids)


def session_logout(*, access_payload: dict, raw_refresh_token: str | None) -> None:
    """End the login the access token belongs to, and the refresh token's login if given.

    An unusable refresh token is not an error (RFC 7009 section 2.2): there is
    nothing left to revoke.
    """
    revocation.revoke_token(jti=access_payload["jti"], expires_at=float(access_payload["exp"]))
    session_ids = [access_payload.get("sid")]
    if raw_refresh_token:
        try:
            refresh = _decode_refresh(raw_refresh_token)
        except InvalidToken:
            refresh = None
        if refresh is not None and refresh["sub"] == access_payload["sub"]:
            session_ids.append(refresh["sid"])
    session_revoke(session_ids=session_ids, reason=RevokeReason.LOGOUT)
    audit.record(
        audit.LOGOUT,
        actor=int(access_payload["sub"]),
        target_type="session",
        target_id=access_payload.get("sid") or "",
    )


def user_revoke_all_tokens(*, user_id: int | str, reason: str) -> None:
    """Every token of the user issued before now stops working, on every process, and
    every browser session of the user ends (the session hash includes the epoch)."""
    LoginSession.objects.filter(user_id=user_id, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_reason=reason
    )
    User.objects.filter(pk=user_id).update(browser_session_epoch=F("browser_session_epoch") + 1)
    users_revoke_access_tokens(user_ids=[user_id])
    if reason == RevokeReason.LOGOUT_ALL:
        audit.record(audit.LOGOUT_ALL, actor=int(user_id))
    elif reason == RevokeReason.ADMIN:  # an administrator ended them: the request says who
        audit.record(
            audit.LOGOUT_ALL, target_type="user", target_id=user_id, detail={"by": "admin"}
        )


def users_revoke_access_tokens(*, user_ids: Iterable[int | str]) -> None:
    """Access tokens issued before now stop working; refresh tokens go on, and
    the next refresh recomputes scopes from the current role.

    Written now, so that it holds the moment this returns, and again when the
    surrounding transaction commits: a refresh that read the old row before
    the commit gets a token older than the second cut-off.
    """
    user_ids = list(user_ids)
    revocation.revoke_user_tokens_issued_before(user_ids=user_ids, moment=time.time())
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(
            lambda: revocation.revoke_user_tokens_issued_before(
                user_ids=user_ids, moment=time.time()
            )
        )


# --- API keys ----------------------------------------------------------------------


def api_key_check(
    *,
    user: User,
    scopes: Iterable[str],
    expires_at: datetime | None,
    within: frozenset[str] | None = None,
) -> frozenset[str]:
    """The key's scopes, expanded; they must lie within what the owner's role grants
    now, and within `within` (the scopes of the token asking, when a token asks:
    a login narrowed to search must not mint a key that can index).

    Raises InvalidScope, or ValidationError for an expiry in the past.
    """
    try:
        wanted = expand_scopes(scopes)
    except UnknownScopeError as exc:
        raise InvalidScope(str(exc)) from exc
    if not wanted:
        raise InvalidScope("Name at least one scope for the key.")
    refused = wanted - user.scopes
    if refused:
        raise InvalidScope("Scope not granted to the key's owner: " + scope_string(refused))
    if within is not None and wanted - within:
        raise InvalidScope(
            "Scope not in the token making the key: " + scope_string(wanted - within)
        )
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": ["The expiry must be in the future."]})
    return wanted


def api_key_create(
    *,
    user: User,
    name: str,
    scopes: Iterable[str],
    expires_at: datetime | None = None,
    within: frozenset[str] | None = None,
) -> tuple[ApiKey, str]:
    """Create a key for `user`; returns the row and the secret, which is never stored."""
    wanted = api_key_check(user=user, scopes=scopes, expires_at=expires_at, within=within)
    new_key = apikeys.generate()
    api_key = ApiKey.objects.create(
        user=user,
        name=name,
        identifier=new_key.identifier,
        key_hash=new_key.digest,
        scopes=ordered(wanted),
        expires_at=expires_at,
    )
    audit.record(
        audit.API_KEY_CREATE,
        target_type="api_key",
        target_id=api_key.pk,
        target=api_key.identifier,
        detail={
            "owner": user.username,
            "name": name,
            "scopes": list(api_key.scopes),
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    return api_key, new_key.secret


def api_key_revoke(*, api_key: ApiKey) -> None:
    """Revoke now; every process refuses the key once this returns.

    The cache is told inside the transaction: if it cannot be reached the
    revocation rolls back and the caller sees a 503, never a half-done revoke.
    Lookups between the two steps go to the database and cache nothing.
    """
    with transaction.atomic():
        revoked = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        apikeys.forget([api_key.key_hash])
        if revoked:
            audit.record(
                audit.API_KEY_REVOKE,
                target_type="api_key",
                target_id=api_key.pk,
                target=api_key.identifier,
                detail={"owner_id": api_key.user_id, "name": api_key.name},
            )


def api_keys_forget_for_users(*, user_ids: Iterable[int | str]) -> None:
    """The owners changed (role, scopes, activity): drop their cached key grants."""
    apikeys.forget(
        ApiKey.objects.filter(user_id__in=list(user_ids)).values_list("key_hash", flat=True)
    )


# --- Signing keys ----------------------------------------------------------------------


def _signing_key_insert(*, material: signing.KeyMaterial, kid: str, source: str) -> SigningKey:
    now = timezone.now()
    context = signing.key_context(
        kid=kid, algorithm=material.algorithm, public_pem=material.public_pem
    )
    return SigningKey.objects.create(
        kid=kid,
        algorithm=material.algorithm,
        state=SigningKey.State.ACTIVE,
        source=source,
        created_at=now,
        activated_at=now,
        public_key=material.public_pem,
        encrypted_private_key=signing.encrypt(material.private, context=context),
    )


def signing_key_rotate(
    *,
    algorithm: str | None = None,
    material: signing.KeyMaterial | None = None,
    kid: str | None = None,
    source: str = "generated",
) -> SigningKey:
    """A new key becomes active; the active one becomes verify-only.

    Tokens it signed stay valid until they expire. Every process signs with
    the new key within SIGNING_KEY_REFRESH seconds and accepts it at once.
    """
    if material is None:
        material = signing.generate(algorithm or settings.JWT_ALGORITHM)
    kid = kid or signing.new_kid()
    if SigningKey.objects.filter(kid=kid).exists():
        raise ValueError(f"A signing key with kid {kid} exists already.")
    try:
        with transaction.atomic():
            current = SigningKey.objects.select_for_update().filter(state=SigningKey.State.ACTIVE)
            SigningKey.objects.filter(pk__in=[key.pk for key in current]).update(
                state=SigningKey.State.VERIFY_ONLY, demoted_at=timezone.now()
            )
            new_key = _signing_key_insert(material=material, kid=kid, source=source)
            audit.record(
                audit.SIGNING_KEY_ROTATE,
                target_type="signing_key",
                target_id=kid,
                target=kid,
                detail={
                    "algorithm": new_key.algorithm,
                    "source": source,
                    "demoted": [key.kid for key in current],
                },
            )
            signing.publish_new_version()
            transaction.on_commit(_publish_quietly)
    except IntegrityError:
        raise ValueError("Another rotation ran at the same moment; try again.") from None
    signing.key_ring.clear()
    return new_key


def _publish_quietly() -> None:
    # The in-transaction publish already succeeded; this second one only
    # shortens the window for processes that reloaded before the commit.
    try:
        signing.publish_new_version()
    except Exception:  # noqa: S110 - they catch up within SIGNING_KEY_REFRESH
        pass


def signing_key_retire(*, kid: str, force: bool = False) -> SigningKey:
    """Retire a verify-only key: tokens it signed stop working; its secret is erased.

    Refused while tokens it signed may still be alive (refresh lifetime plus
    leeway after its demotion), unless `force`.
    """
    with transaction.atomic():
        key = SigningKey.objects.select_for_update().filter(kid=kid).first()
        if key is None:
            raise ValueError(f"No signing key with kid {kid}.")
        if key.state == SigningKey.State.ACTIVE:
            raise ValueError("This key is active: rotate first, then retire it.")
        if key.state == SigningKey.State.RETIRED:
            return key
        if key.tokens_may_be_alive() and not force:
            raise ValueError(
                "Tokens this key signed may still be valid (until the refresh lifetime plus "
                "leeway has passed since it was demoted). Use --force to retire it anyway: "
                "those tokens will stop working."
            )
        key.state = SigningKey.State.RETIRED
        key.retired_at = timezone.now()
        key.encrypted_private_key = ""
        key.save(update_fields=["state", "retired_at", "encrypted_private_key"])
        audit.record(
            audit.SIGNING_KEY_RETIRE,
            target_type="signing_key",
            target_id=kid,
            target=kid,
            detail={"forced": bool(force)},
        )
        signing.publish_new_version()
        transaction.on_commit(_publish_quietly)
    signing.key_ring.clear()
    return key


def env_secret_material() -> tuple[signing.KeyMaterial, str]:
    """JWT_SECRET_KEY as key material, with the kid its tokens already carry."""
    secret = settings.JWT_SECRET_KEY
    return signing.from_secret(secret), signing.kid_for_secret(secret)


def signing_keys_reencrypt() -> int:
    """Seal every usable key again with the current key-encryption key.

    After moving JWT_KEY_ENCRYPTION_KEY to the fallbacks and setting a new
    one, this makes the old KEK unnecessary.
    """
    count = 0
    with transaction.atomic():
        for key in SigningKey.objects.select_for_update().exclude(encrypted_private_key=""):
            context = signing.row_context(key)
            plaintext = signing.decrypt(key.encrypted_private_key, context=context)
            key.encrypted_private_key = signing.encrypt(plaintext, context=context)
            key.save(update_fields=["encrypted_private_key"])
            count += 1
    return count


def signing_key_ensure_active() -> SigningKey:
    """On first start: the first key, imported from JWT_SECRET_KEY when that is set
    (same kid, so tokens it signed stay valid), otherwise generated with
    JWT_ALGORITHM. Safe when several processes start at once."""
    existing = SigningKey.objects.filter(state=SigningKey.State.ACTIVE).first()
    if existing is not None:
        return existing
    if settings.JWT_SECRET_KEY:
        material, kid = env_secret_material()
        source = "environment"
    else:
        material = signing.generate(settings.JWT_ALGORITHM)
        kid, source = signing.new_kid(), "generated"
    try:
        with transaction.atomic():
            if SigningKey.objects.filter(kid=kid).exists():
                # Imported before and since demoted: a rotation is the only way on.
                return signing_key_rotate(algorithm=settings.JWT_ALGORITHM)
            created = _signing_key_insert(material=material, kid=kid, source=source)
            audit.record(
                audit.SIGNING_KEY_ROTATE,
                target_type="signing_key",
                target_id=kid,
                target=kid,
                detail={"algorithm": created.algorithm, "source": source, "first": True},
            )
            transaction.on_commit(_publish_quietly)
            return created
    except IntegrityError:
        # Another process created the first key at the same moment.
        return SigningKey.objects.get(state=SigningKey.State.ACTIVE)
