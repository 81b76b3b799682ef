"""A loopback Azure Resource Manager for Azure ML models, read by the real azure-ai-ml client.

It serves HTTPS with a certificate made here for IP 127.0.0.1, and answers in the official response
shapes of Azure/azure-rest-api-specs (machinelearningservices: model containers and versions).
azure-ai-ml reaches it through its own ``cloud_metadata`` option, so no check of the client is
bypassed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from azure.core.credentials import AccessToken
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from yarl import URL

from bot.config import Workspace
from bot.registry.azureml import AzureMLRegistry, registry_registry, workspace_registry

WORKSPACE = Workspace("00000000-0000-0000-0000-000000000000", "ml-rg", "ml-prod")
ARM = "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.MachineLearningServices/workspaces/{w}"
REGISTRY = "shared-models"
REGISTRY_ARM = "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.MachineLearningServices/registries/{r}"
DISCOVERY = "/registrymanagement/v1.0/registries/{r}/discovery"
MFE = "/mferp/managementfrontend"
PAGE_SIZE = 2


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate and key for IP 127.0.0.1, as PEM files."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "arm.pem", directory / "arm.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class FakeCredential:
    """An azure-identity credential that hands out a fixed token, or fails as told."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error

    def get_token(self, *_scopes: str, **_kwargs: Any) -> AccessToken:
        if self.error is not None:
            raise self.error
        return AccessToken("arm-token", int(dt.datetime.now(dt.UTC).timestamp()) + 3600)


@dataclass
class FakeArm:
    """Models by name, each a list of versions (dicts with version, tags, createdBy...)."""

    models: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)
    version_error: int | None = None
    """When set, GETs of one version answer this HTTP status (an ARM error), as on an outage."""
    version_delay: float = 0.0
    """GETs of one version answer after this many seconds, as on a slow day."""
    page_size: int = PAGE_SIZE
    """Models per page of a model list (Azure ML's own pages are larger)."""
    elsewhere: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    """The models of other workspaces and registries, by their name; any other serves ``models``."""
    server: TestServer | None = None
    cert_path: Path | None = None

    def register(self, name: str, version: str, **details: Any) -> None:
        """Register a version, as a data scientist would (``createdBy`` 'Ada Lovelace', a user,
        now), or as ``details`` say: ``tags``, ``properties``, ``description``, ``createdBy``,
        ``createdByType`` ('Application' for a pipeline's service principal), ``createdAt``."""
        registered = {"createdAt": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")}
        self.models.setdefault(name, []).append({"version": version, **registered, **details})

    async def start(self, directory: Path) -> None:
        """Serve HTTPS on a free loopback port."""
        self.cert_path, key_path = self_signed(directory)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_path, key_path)
        app = web.Application()
        base = ARM.format(s="{s}", g="{g}", w="{w}")
        app.router.add_get(base + "/models", self._containers)
        app.router.add_get(base + "/models/{name}/versions", self._versions)
        app.router.add_get(base + "/models/{name}/versions/{version}", self._version)
        app.router.add_get(DISCOVERY, self._discovery)
        registry = MFE + REGISTRY_ARM.format(s="{s}", g="{g}", r="{r}")
        app.router.add_get(registry + "/models", self._containers)
        app.router.add_get(registry + "/models/{name}/versions", self._versions)
        app.router.add_get(registry + "/models/{name}/versions/{version}", self._version)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server(ssl=context)

    async def close(self) -> None:
        """Stop serving."""
        if self.server is not None:
            await self.server.close()

    @property
    def root(self) -> str:
        assert self.server is not None
        return f"https://127.0.0.1:{self.server.port}/"

    def registry(self, credential: FakeCredential | None = None) -> AzureMLRegistry:
        """The real azure-ai-ml client for WORKSPACE, pointed at this server."""
        assert self.cert_path is not None
        return loopback_registry(self.root, self.cert_path, credential)

    def _client_options(self) -> dict[str, Any]:
        assert self.cert_path is not None
        return _loopback_options(self.root, self.cert_path)

    def workspace_source(self, name: str) -> AzureMLRegistry:
        """The real azure-ai-ml client for another workspace of WORKSPACE's resource group."""
        workspace = Workspace(WORKSPACE.subscription_id, WORKSPACE.resource_group, name)
        return workspace_registry(workspace, FakeCredential, **self._client_options())

    def registry_source(self, credential: FakeCredential | None = None) -> AzureMLRegistry:
        """The real azure-ai-ml client for the registry REGISTRY, pointed at this server."""
        options = self._client_options()
        return registry_registry(REGISTRY, lambda: credential or FakeCredential(), **options)

    async def _discovery(self, request: web.Request) -> web.Response:
        self.requests["discovery"] += 1
        return web.json_response(
            {
                "registryName": request.match_info["r"],
                "tenantId": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
                "primaryRegion": "westeurope",
                "regions": ["westeurope"],
                "subscriptionId": WORKSPACE.subscription_id,
                "resourceGroup": WORKSPACE.resource_group,
                "primaryRegionResourceProviderUri": self.root,
            }
        )

    def _models(self, request: web.Request) -> dict[str, list[dict[str, Any]]]:
        """The models of the workspace or registry the request names."""
        info = request.match_info
        return self.elsewhere.get(info.get("w") or info.get("r") or "", self.models)

    def _workspace_id(self, request: web.Request) -> str:
        info = request.match_info
        if "r" in info:
            return REGISTRY_ARM.format(s=info["s"], g=info["g"], r=info["r"])
        return ARM.format(s=info["s"], g=info["g"], w=info["w"])

    async def _containers(self, request: web.Request) -> web.Response:
        self.requests["containers"] += 1
        models = self._models(request)
        start = int(request.query.get("$skipToken", "0"))
        names = sorted(models)[start : start + self.page_size]
        body: dict[str, Any] = {
            "value": [
                {
                    "id": f"{self._workspace_id(request)}/models/{name}",
                    "name": name,
                    "type": "Microsoft.MachineLearningServices/workspaces/models",
                    "properties": {
                        "description": None,
                        "tags": {},
                        "isArchived": False,
                        "latestVersion": models[name][-1]["version"],
                        "nextVersion": None,
                    },
                    "systemData": _system_data({}),
                }
                for name in names
            ]
        }
        if start + self.page_size < len(models):
            url = request.url.update_query({"$skipToken": str(start + self.page_size)})
            body["nextLink"] = str(url)
        return web.json_response(body)

    async def _versions(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.requests[f"versions {name}"] += 1
        items = self._models(request).get(name, [])
        return web.json_response({"value": [self._version_body(request, item) for item in items]})

    async def _version(self, request: web.Request) -> web.Response:
        name, version = request.match_info["name"], request.match_info["version"]
        self.requests[f"version {name} {version}"] += 1
        await asyncio.sleep(self.version_delay)
        if self.version_error is not None:
            return _arm_error(self.version_error, "InternalServerError", "Try again later.")
        for item in self._models(request).get(name, []):
            if item["version"] == version:
                return web.json_response(self._version_body(request, item))
        return _arm_error(404, "UserError", f"Could not find asset with ID: {name}:{version}")

    def _version_body(self, request: web.Request, item: dict[str, Any]) -> dict[str, Any]:
        """A version in the official shape (``model-versions/list.example.json``'s items)."""
        name, registry = request.match_info["name"], request.match_info.get("r")
        base = (
            f"azureml://registries/{registry}/models/{name}/versions"
            if registry
            else f"{self._workspace_id(request)}/models/{name}/versions"
        )
        return {
            "id": f"{base}/{item['version']}",
            "name": item["version"],
            "type": "Microsoft.MachineLearningServices/workspaces/models/versions",
            "properties": {
                "description": item.get("description"),
                "tags": item.get("tags", {}),
                "properties": item.get("properties", {}),
                "isAnonymous": False,
                "flavors": {},
                "modelType": "custom_model",
                "modelUri": f"azureml://models/{name}/{item['version']}",
            },
            "systemData": _system_data(item),
        }


def loopback_registry(
    root: str, cert_path: Path | str, credential: FakeCredential | None = None
) -> AzureMLRegistry:
    """The real azure-ai-ml client for WORKSPACE, pointed at the FakeArm serving at ``root`` with
    the certificate ``cert_path`` (one of another process, too)."""
    options = _loopback_options(root, cert_path)
    return workspace_registry(WORKSPACE, lambda: credential or FakeCredential(), **options)


def _loopback_options(root: str, cert_path: Path | str) -> dict[str, Any]:
    """MLClient's options for the FakeArm at ``root``: a cloud of its own, its certificate."""
    return {
        "cloud": f"Loopback{URL(root).port}",
        "cloud_metadata": {
            "resource_manager": root,
            "active_directory": root,
            "aml_resource_id": root,
            "azure_portal": root,
            "registry_discovery_endpoint": root,
            "storage_endpoint": "core.windows.net",
        },
        "connection_verify": str(cert_path),
    }


def _arm_error(status: int, code: str, message: str) -> web.Response:
    """ARM's error body (ErrorResponse)."""
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def _system_data(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "createdAt": item.get("createdAt", "2026-11-24T09:30:00.000Z"),
        "createdBy": item.get("createdBy", "Ada Lovelace"),
        "createdByType": item.get("createdByType", "User"),
        "lastModifiedAt": "2026-11-24T09:30:00.000Z",
        "lastModifiedBy": "Ada Lovelace",
        "lastModifiedByType": "User",
    }
