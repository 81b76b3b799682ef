"""A Bot Framework identity of our own, for tests and benchmarks: signing keys, JWKS, tokens.

The SDK fetches Bot Framework signing keys from a hard-coded Microsoft host;
``loopback_key_manager`` makes its real validator fetch them from a loopback URL instead, so every
check still runs.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from microsoft_agents.hosting.core.authorization import AuthenticationConstants
from microsoft_agents.hosting.core.authorization.jwt.jwt_token_validator import (
    _JwkClientCacheEntry,
    _JwkClientManager,
)

APP_ID = "11111111-2222-3333-4444-555555555555"
TENANT_ID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
OUTBOUND_TOKEN = "outbound-token-from-stub"
BOT_FRAMEWORK_ISSUER = "https://api.botframework.com"
KID = "test-key-1"
ENTRA_ISSUER = f"https://login.microsoftonline.com/{TENANT_ID}/v2.0"
# Where the SDK looks for Entra signing keys of our tenant.
ENTRA_JWKS_URL = f"https://login.microsoftonline.com/{TENANT_ID}/discovery/v2.0/keys"


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class SigningKeys:
    """The test's own Bot Framework signing key, and a second key an attacker might hold."""

    key: rsa.RSAPrivateKey = field(default_factory=_new_key)
    other_key: rsa.RSAPrivateKey = field(default_factory=_new_key)

    def jwks(self) -> dict[str, Any]:
        """The public key set a Bot Framework key endpoint serves (with Teams endorsed)."""
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        extra = {"kid": KID, "use": "sig", "alg": "RS256", "endorsements": ["msteams"]}
        return {"keys": [public | extra]}

    def token(
        self,
        *,
        key: rsa.RSAPrivateKey | None = None,
        headers: dict[str, Any] | None = None,
        drop: tuple[str, ...] = (),
        **claims: Any,
    ) -> str:
        """A signed token with Bot Framework claims for our app, changed by ``claims``."""
        now = int(time.time())
        payload = {
            "iss": BOT_FRAMEWORK_ISSUER,
            "aud": APP_ID,
            "iat": now,
            "nbf": now,
            "exp": now + 600,
            "serviceurl": claims.pop("serviceurl", None),
        } | claims
        payload = {k: v for k, v in payload.items() if v is not None and k not in drop}
        header = {"kid": KID} if headers is None else headers
        return jwt.encode(payload, key or self.key, algorithm="RS256", headers=header)


def loopback_key_manager(jwks_url: str) -> _JwkClientManager:
    """A key-client manager for the SDK's validator: Bot Framework and Entra keys from ``jwks_url``.

    Install it as ``JwtTokenValidator._jwk_client_manager``.
    """
    manager = _JwkClientManager()  # type: ignore[no-untyped-call]
    for microsoft_url in (AuthenticationConstants.PUBLIC_ABS_JWKS_URL, ENTRA_JWKS_URL):
        manager._cache[microsoft_url] = _JwkClientCacheEntry(
            jwt.PyJWKClient(jwks_url), threading.Lock()
        )
    return manager


class StubTokenProvider:
    """Stands in for MSAL: hands out a fixed outbound token without any network."""

    def __init__(self, config: Any) -> None:
        self.configuration = config

    async def get_access_token(self, *_args: Any, **_kwargs: Any) -> str:
        return OUTBOUND_TOKEN
