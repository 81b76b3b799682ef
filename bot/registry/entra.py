"""Microsoft Entra bearer tokens, as Event Grid sends them to a webhook with Entra authentication.

The signature is checked against the tenant's published keys (fetched and cached by PyJWT, in a
thread), and the token must be for our audience, from our tenant (v1 or v2 issuer), and unexpired.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import jwt

log = logging.getLogger(__name__)

# The public cloud; sovereign clouds come with the cloud setting (a later issue).
ENTRA_AUTHORITY = "https://login.microsoftonline.com"
LEEWAY_SECONDS = 60


class EntraTokenValidator:
    """Validates Entra access tokens for one audience and tenant."""

    def __init__(self, audience: str, tenant_id: str, authority: str | None = None) -> None:
        authority = authority or ENTRA_AUTHORITY
        self._audience = audience
        self._issuers = [f"{authority}/{tenant_id}/v2.0", f"https://sts.windows.net/{tenant_id}/"]
        self._keys = jwt.PyJWKClient(f"{authority}/{tenant_id}/discovery/v2.0/keys")

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
