"""The Azure cloud the bot lives in: public, US Government or China (21Vianet).

One setting (``RELEASEBOT_CLOUD``) picks every endpoint that differs between them: Azure ML and
Azure Resource Manager (azure-ai-ml's ``cloud=``), the Entra authority and its token issuers, the
Bot Framework's token issuer, signing keys and outbound scope, the Teams service hosts, and the
Azure ML studio links. Sources: Microsoft's national-cloud pages for Entra and Bot Framework
("Configure Bot Framework bots for US Government customers", "Configure a bot in Azure operated
by 21Vianet"), botframework-connector's GovernmentConstants, and azure-ai-ml's own cloud table.
Azure DevOps Services runs in the public cloud only: its settings do not follow this one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class CloudName(StrEnum):
    """The values of ``RELEASEBOT_CLOUD``."""

    PUBLIC = "public"
    USGOV = "usgov"
    CHINA = "china"


@dataclass(frozen=True)
class Cloud:
    """The endpoints of one cloud."""

    name: CloudName
    azureml_cloud: str
    """azure-ai-ml's name for it (``MLClient(cloud=...)``)."""
    resource_manager: str
    studio: str
    entra_authority: str
    """The Entra authority, ``https://`` and the host azure-identity names (AzureAuthorityHosts)."""
    entra_issuer_v1: str
    entra_issuer_v2: str
    """Entra token issuers, ``{tenant}`` to fill."""
    botframework_issuer: str
    botframework_jwks: str
    botframework_scope: str
    """The audience of the bot's own tokens to the Bot Connector (``/.default`` appended)."""
    oauth_url: str
    """The Bot Framework token service, its OAuthUrl (user sign-in, which the bot does not use)."""
    service_hosts: tuple[str, ...]
    """Hosts the bot may send replies to, beyond the SDK's default Microsoft hosts."""

    @property
    def entra_host(self) -> str:
        """The Entra authority's host, for azure-identity."""
        return self.entra_authority.removeprefix("https://")

    def entra_issuers(self, tenant_id: str) -> list[str]:
        """The v1 and v2 issuers of the tenant's Entra tokens."""
        return [
            self.entra_issuer_v1.format(tenant=tenant_id),
            self.entra_issuer_v2.format(tenant=tenant_id),
        ]


CLOUDS: dict[CloudName, Cloud] = {
    CloudName.PUBLIC: Cloud(
        name=CloudName.PUBLIC,
        azureml_cloud="AzureCloud",
        resource_manager="https://management.azure.com",
        studio="https://ml.azure.com",
        entra_authority="https://login.microsoftonline.com",
        entra_issuer_v1="https://sts.windows.net/{tenant}/",
        entra_issuer_v2="https://login.microsoftonline.com/{tenant}/v2.0",
        botframework_issuer="https://api.botframework.com",
        botframework_jwks="https://login.botframework.com/v1/.well-known/keys",
        botframework_scope="https://api.botframework.com",
        oauth_url="https://api.botframework.com",
        service_hosts=(),
    ),
    CloudName.USGOV: Cloud(
        name=CloudName.USGOV,
        azureml_cloud="AzureUSGovernment",
        resource_manager="https://management.usgovcloudapi.net",
        studio="https://ml.azure.us",
        entra_authority="https://login.microsoftonline.us",
        entra_issuer_v1="https://sts.windows.net/{tenant}/",
        entra_issuer_v2="https://login.microsoftonline.us/{tenant}/v2.0",
        botframework_issuer="https://api.botframework.us",
        botframework_jwks="https://login.botframework.azure.us/v1/.well-known/keys",
        botframework_scope="https://api.botframework.us",
        oauth_url="https://token.botframework.azure.us",
        service_hosts=("botframework.azure.us",),
    ),
    CloudName.CHINA: Cloud(
        name=CloudName.CHINA,
        azureml_cloud="AzureChinaCloud",
        resource_manager="https://management.chinacloudapi.cn",
        studio="https://ml.azure.cn",
        entra_authority="https://login.chinacloudapi.cn",
        entra_issuer_v1="https://sts.chinacloudapi.cn/{tenant}/",
        entra_issuer_v2="https://login.partner.microsoftonline.cn/{tenant}/v2.0",
        botframework_issuer="https://api.botframework.azure.cn",
        botframework_jwks="https://login.botframework.azure.cn/v1/.well-known/keys",
        botframework_scope="https://api.botframework.azure.cn",
        oauth_url="https://token.botframework.azure.cn",
        service_hosts=("botframework.azure.cn", "teams.microsoftonline.cn"),
    ),
}
