"""Auth settings: the key sources (secret, JWKS), the accepted algorithms and the claims checked."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Self
from urllib.parse import urlsplit

from pydantic import (
    BeforeValidator,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import NoDecode

from todo_api.auth.tokens import (
    ASYMMETRIC_ALGORITHMS,
    HMAC_ALGORITHMS,
    SUPPORTED_ALGORITHMS,
    VerifierConfig,
)
from todo_api.settings.env import CommaList, ConfigError, EnvSettings, split_commas

if TYPE_CHECKING:
    from todo_api.auth.keys import JwksCache

MIN_SECRET_BYTES = 32
BETTER_AUTH_JWKS_PATH = "/api/auth/jwks"
# Values copied from docs or examples are public knowledge, whatever their length.
_PLACEHOLDER_SECRETS = frozenset(
    {"changeme", "change-me", "secret", "your-secret-here", "replace-me-with-a-long-random-secret"}
)


class AuthSettings(EnvSettings):
    """How tokens are verified. At least one key source, or the service does not start."""

    better_auth_secret: SecretStr | None = Field(default=None, alias="BETTER_AUTH_SECRET")
    # Secrets still accepted for verification during a rotation window (never used to sign).
    better_auth_secret_previous: Annotated[
        list[SecretStr], NoDecode, BeforeValidator(split_commas)
    ] = Field(default=[], alias="BETTER_AUTH_SECRET_PREVIOUS")
    better_auth_url: str | None = Field(default=None, alias="BETTER_AUTH_URL")
    auth_jwks_url: str | None = Field(default=None, alias="AUTH_JWKS_URL")
    auth_jwks_refresh_seconds: float = Field(
        default=300, ge=1, le=86400, alias="AUTH_JWKS_REFRESH_SECONDS"
    )
    auth_jwks_min_refetch_seconds: float = Field(
        default=30, ge=0, le=3600, alias="AUTH_JWKS_MIN_REFETCH_SECONDS"
    )
    auth_jwks_timeout_seconds: float = Field(
        default=5, gt=0, le=60, alias="AUTH_JWKS_TIMEOUT_SECONDS"
    )
    # How long cached keys stay usable while the issuer cannot confirm them (docs/jwks.md).
    auth_jwks_max_stale_seconds: float = Field(
        default=86400, gt=0, le=30 * 86400, alias="AUTH_JWKS_MAX_STALE_SECONDS"
    )
    # Unset: HS256 when a secret is configured, plus every JWKS algorithm when a JWKS is.
    auth_algorithms: CommaList = Field(default=[], alias="AUTH_ALGORITHMS")
    auth_issuer: str | None = Field(default=None, alias="AUTH_ISSUER")
    auth_audience: str | None = Field(default=None, alias="AUTH_AUDIENCE")
    auth_leeway_seconds: int = Field(default=30, ge=0, le=300, alias="AUTH_LEEWAY_SECONDS")

    @field_validator("auth_jwks_max_stale_seconds")
    @classmethod
    def _stale_after_a_refresh(cls, value: float, info: ValidationInfo) -> float:
        refresh = info.data.get("auth_jwks_refresh_seconds")
        if refresh is not None and value <= refresh:
            raise ValueError(
                "AUTH_JWKS_MAX_STALE_SECONDS must be longer than AUTH_JWKS_REFRESH_SECONDS: "
                "keys would go stale between two scheduled refreshes"
            )
        return value

    @field_validator("auth_algorithms")
    @classmethod
    def _known_algorithms(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - SUPPORTED_ALGORITHMS)
        if unknown:
            raise ValueError(
                f"AUTH_ALGORITHMS has unsupported entries {unknown}: "
                f"choose from {sorted(SUPPORTED_ALGORITHMS)} ('none' is never accepted)"
            )
        return value

    @model_validator(mode="after")
    def _usable_key_source(self) -> Self:
        if self.better_auth_secret is not None:
            _check_secret("BETTER_AUTH_SECRET", self.better_auth_secret)
        for previous in self.better_auth_secret_previous:
            _check_secret("BETTER_AUTH_SECRET_PREVIOUS", previous)
        if self.better_auth_secret_previous and self.better_auth_secret is None:
            raise ValueError("BETTER_AUTH_SECRET_PREVIOUS is set without BETTER_AUTH_SECRET")
        for name, url in (
            ("BETTER_AUTH_URL", self.better_auth_url),
            ("AUTH_JWKS_URL", self.auth_jwks_url),
        ):
            if url is not None and (
                urlsplit(url).scheme not in {"http", "https"} or not urlsplit(url).netloc
            ):
                raise ValueError(f"{name} must be an http(s) URL such as http://localhost:3000")
        if self.better_auth_url is not None:
            base = self.better_auth_url.rstrip("/")
            self.auth_jwks_url = self.auth_jwks_url or base + BETTER_AUTH_JWKS_PATH
            # Better Auth's JWT plugin sets both iss and aud to the origin of its baseURL.
            parts = urlsplit(base)
            origin = f"{parts.scheme}://{parts.netloc}"
            self.auth_issuer = self.auth_issuer or origin
            self.auth_audience = self.auth_audience or origin
        has_secret, has_jwks = self.better_auth_secret is not None, self.auth_jwks_url is not None
        if not has_secret and not has_jwks:
            raise ValueError(
                "BETTER_AUTH_SECRET is not set (nor BETTER_AUTH_URL / AUTH_JWKS_URL): the server "
                "needs a key source. Use the secret your Better Auth server signs with (`make "
                "run` writes a generated dev secret into .env), or its URL for JWKS tokens"
            )
        if not self.auth_algorithms:
            self.auth_algorithms = [
                *(["HS256"] if has_secret else []),
                *(ASYMMETRIC_ALGORITHMS if has_jwks else []),
            ]
        chosen = set(self.auth_algorithms)
        if chosen.intersection(HMAC_ALGORITHMS) and not has_secret:
            raise ValueError(
                "AUTH_ALGORITHMS names an HS* algorithm but BETTER_AUTH_SECRET is not set"
            )
        if chosen.intersection(ASYMMETRIC_ALGORITHMS) and not has_jwks:
            raise ValueError(
                "AUTH_ALGORITHMS names an asymmetric algorithm but neither BETTER_AUTH_URL nor "
                "AUTH_JWKS_URL is set"
            )
        return self

    def secret_keys(self) -> tuple[bytes, ...]:
        """HMAC keys for verification: the current secret first, then previous ones."""
        secrets = [self.better_auth_secret] if self.better_auth_secret else []
        secrets += self.better_auth_secret_previous
        return tuple(secret.get_secret_value().encode() for secret in secrets)

    def secret_bytes(self) -> bytes:
        """The current HMAC key, the one dev tokens are signed with."""
        if self.better_auth_secret is None:
            raise ConfigError("BETTER_AUTH_SECRET is not set: no secret to sign dev tokens with")
        return self.better_auth_secret.get_secret_value().encode()

    def jwks_cache(self) -> JwksCache | None:
        """The cached key set of the JWKS URL, if one is configured (fetched once started)."""
        if self.auth_jwks_url is None:
            return None
        # Imported here: reading the settings needs no HTTP client.
        from todo_api.auth.keys import JwksCache

        return JwksCache(
            self.auth_jwks_url,
            refresh_seconds=self.auth_jwks_refresh_seconds,
            min_refetch_seconds=self.auth_jwks_min_refetch_seconds,
            timeout_seconds=self.auth_jwks_timeout_seconds,
            max_stale_seconds=self.auth_jwks_max_stale_seconds,
        )

    def verifier_config(self, jwks: JwksCache | None) -> VerifierConfig:
        """What a token must satisfy: algorithms, keys, issuer, audience and clock leeway."""
        return VerifierConfig(
            algorithms=tuple(self.auth_algorithms),
            secrets=self.secret_keys(),
            jwks=jwks,
            issuer=self.auth_issuer,
            audience=self.auth_audience,
            leeway_seconds=self.auth_leeway_seconds,
        )


def _check_secret(name: str, secret: SecretStr) -> None:
    raw = secret.get_secret_value()
    if not raw.strip():
        raise ValueError(f"{name} is empty")
    if raw.strip().lower() in _PLACEHOLDER_SECRETS:
        raise ValueError(f"{name} is a placeholder: generate one (`todo-api secret`)")
    if len(raw.encode()) < MIN_SECRET_BYTES:
        raise ValueError(
            f"{name} is too short: it needs at least {MIN_SECRET_BYTES} bytes "
            "(`todo-api secret` prints a suitable one)"
        )
