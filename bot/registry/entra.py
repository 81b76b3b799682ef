"""Microsoft Entra bearer tokens, as Event Grid sends them to a webhook with Entra authentication.

The signature is checked against the tenant's published keys (fetched and cached by PyJWT, in a
thread), and the token must be for our audience, from our tenant (v1 or v2 issuer), and unexpired.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import jwt

from bot.cloud import CLOUDS, Cloud, CloudName

log = logging.getLogger(__name__)

LEEWAY_SECONDS = 60


class EntraTokenValidator:
    """Validates Entra access tokens for one audience and tenant."""

    def __init__(
        self, audience: str, tenant_id: str, cloud: Cloud = CLOUDS[CloudName.PUBLIC]
    ) -> None:
        self._audience = audience
        self._issuers = cloud.entra_issuers(tenant_id)
        self._keys = jwt.PyJWKClient(f"{cloud.entra_authority}/{tenant_id}/discovery/v2.0/keys")
        self.keys_url = self._keys.uri

    async def validate(self, token: str) -> dict[str, Any] | None:
        """The token's claims when it is valid for us, else None (the reason is logged)."""
        try:
            key = await asyncio.to_thread(self._keys.get_signing_key_from_jwt, token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                audience=self._audience,
                issuer=self._issuers,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud"]},
            )
        except (jwt.PyJWTError, ValueError) as error:
            log.warning("Entra token refused: %s", type(error).__name__)
            return None
        return claims
