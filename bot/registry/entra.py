"""Microsoft Entra bearer tokens, as Event Grid sends them to a webhook with Entra authentication.

The signature is checked against the tenant's published keys (fetched and cached by PyJWT, in a
thread), and the token must be for our audience, from our tenant (v1 or v2 issuer), and unexpired.
Any application of the tenant may get such a token for our audience, so the webhook also requires
that Event Grid got it (:func:`sent_by_event_grid`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import jwt

from bot.cloud import CLOUDS, Cloud, CloudName

log = logging.getLogger(__name__)

LEEWAY_SECONDS = 60
EVENT_GRID_APP_ID = "4962773b-9cdb-44cf-a8bf-237846a00ab7"
"""The application id of "Microsoft.EventGrid" (Azure Event Grid's Entra application) in Azure's
public cloud, as Microsoft's "Deliver events to Microsoft Entra protected endpoints" guide and its
scripts give it (learn.microsoft.com/azure/event-grid/secure-webhook-delivery)."""
EVENT_GRID_ROLE = "AzureEventGridSecureWebhookSubscriber"
"""The app role that same guide has the webhook's application define and grant to Event Grid (in
every cloud, whatever Event Grid's application id there)."""


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


def sent_by_event_grid(claims: dict[str, Any]) -> bool:
    """Whether a valid token was issued to Event Grid: its application (``appid`` in v1 tokens,
    ``azp`` in v2) is Event Grid's, or it holds the Event Grid subscriber role."""
    application = claims.get("appid", claims.get("azp"))
    roles = claims.get("roles")
    if application == EVENT_GRID_APP_ID or (isinstance(roles, list) and EVENT_GRID_ROLE in roles):
        return True
    log.warning("Entra token refused: not issued to Event Grid (application %s)", application)
    return False
