"""Azure ML workspaces and registries through azure-ai-ml.

azure-ai-ml is synchronous and costs about two seconds to import, so it is imported lazily and
every call (the client's construction too: for a registry it makes a discovery request) runs in a
thread, here and nowhere else.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from bot.config import Workspace
from bot.network import network_problem
from bot.registry.threads import DaemonThreads
from domain.records import ModelVersion
from domain.statuses import SourceKind

# Plain strings: on Python 3.11 the SDK sends the enum's name for ListViewType (a known bug).
ACTIVE_ONLY = "ActiveOnly"
WORKSPACE_ID = (
    "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.MachineLearningServices/workspaces/{}"
)
LOOKUP_THREADS = 4
"""Threads per source for single-version look-ups (the Event Grid path)."""


@dataclass(frozen=True)
class Container:
    """A model (all its versions) and its latest version."""

    name: str
    latest_version: str | None


class ModelRegistry(Protocol):
    """Where model versions are registered: a workspace or a registry."""

    source_kind: SourceKind
    source_name: str

    async def containers(self) -> list[Container]:
        """Every model with its latest version: one request per page."""
        ...

    async def versions(self, model_name: str) -> list[ModelVersion]:
        """Every active version of one model."""
        ...

    async def version_details(self, model_name: str, version: str) -> ModelVersion:
        """One version, with its creator and creation time: one request. Raises when the source
        does not answer it (:func:`is_not_found`: it has no such version)."""
        ...


ClientFactory = Callable[[], Any]
"""Builds an ``azure.ai.ml.MLClient``; called once, in a thread."""


class AzureMLRegistry:
    """A ModelRegistry on azure-ai-ml's MLClient."""

    def __init__(
        self,
        source_kind: SourceKind,
        source_name: str,
        client_factory: ClientFactory,
        source_id: str | None = None,
    ) -> None:
        self.source_kind = source_kind
        self.source_name = source_name
        self._client_factory = client_factory
        self._source_id = source_id
        self._client: Any = None
        self._client_lock = threading.Lock()
        # Look-ups have their own few threads: callers give up on them after a few seconds, but a
        # thread stuck on a slow ARM keeps going (azure-core retries) and must not hold up the
        # poller, nor the poller the look-ups.
        self._polls = DaemonThreads("azureml-poll", 1)
        self._lookups = DaemonThreads("azureml-lookup", LOOKUP_THREADS)

    async def containers(self) -> list[Container]:
        """Every model with its latest version."""
        return await self._polls.run(self._list_containers)

    async def versions(self, model_name: str) -> list[ModelVersion]:
        """Every active version of one model, with tags, properties, creator and time."""
        return await self._polls.run(functools.partial(self._list_versions, model_name))

    async def version_details(self, model_name: str, version: str) -> ModelVersion:
        """One version (archived ones too), with tags, properties, creator and time. Raises the
        SDK's errors (``ResourceNotFoundError``, ``ClientAuthenticationError``...)."""
        read = functools.partial(self._get_version, model_name, version)
        return await self._lookups.run(read)

    def _ml(self) -> Any:
        with self._client_lock:  # the poller and a look-up may both be first
            if self._client is None:
                self._client = self._client_factory()
            return self._client

    def _list_containers(self) -> list[Container]:
        models: Iterable[Any] = self._ml().models.list(list_view_type=ACTIVE_ONLY)
        return [Container(model.name, _text(model.latest_version)) for model in models]

    def _list_versions(self, model_name: str) -> list[ModelVersion]:
        models: Iterable[Any] = self._ml().models.list(name=model_name, list_view_type=ACTIVE_ONLY)
        return [self._version(model) for model in models]

    def _get_version(self, model_name: str, version: str) -> ModelVersion:
        return self._version(self._ml().models.get(name=model_name, version=version))

    def _version(self, model: Any) -> ModelVersion:
        context = model.creation_context
        return ModelVersion(
            source_kind=self.source_kind,
            source_name=self.source_name,
            name=model.name,
            version=str(model.version),
            tags={str(k): str(v) for k, v in (model.tags or {}).items()},
            properties={str(k): str(v) for k, v in (model.properties or {}).items()},
            description=model.description,
            created_by=getattr(context, "created_by", None),
            created_by_type=_enum_text(getattr(context, "created_by_type", None)),
            created_at=getattr(context, "created_at", None),
            source_id=self._source_id,
        )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _enum_text(value: Any) -> str | None:
    """The text of an SDK enum (``CreatedByType.USER``: 'User'), or of a value it does not know."""
    return _text(getattr(value, "value", value))


def is_not_found(error: BaseException) -> bool:
    """Whether the source answered 404 (azure-core's ``ResourceNotFoundError``): it has no such
    version."""
    return getattr(error, "status_code", None) == 404


def failure_reason(error: BaseException) -> str:
    """What went wrong and what to do, without the exception's text (it may hold secrets)."""
    problem = network_problem(error)
    if problem is not None:
        return str(problem)
    kind = type(error).__name__
    if kind in ("ClientAuthenticationError", "CredentialUnavailableError"):
        return (
            f"authentication failed ({kind}): check the AZURE_* settings or the managed "
            "identity, and its role on the workspace"
        )
    status = getattr(error, "status_code", None)
    if status in (401, 403):
        return f"access refused ({status}): give the identity a reader role on the workspace"
    if is_not_found(error):
        return "not found (404): check the subscription, resource group and name"
    return f"{kind}" + (f" (HTTP {status})" if status else "")


def workspace_registry(
    workspace: Workspace, credential: Callable[[], Any], **client_options: Any
) -> AzureMLRegistry:
    """The ModelRegistry of a workspace; ``client_options`` go to MLClient (cloud, transport)."""

    def build() -> Any:
        from azure.ai.ml import MLClient

        return MLClient(
            credential(),
            workspace.subscription_id,
            workspace.resource_group,
            workspace.name,
            enable_telemetry=False,
            **client_options,
        )

    source_id = WORKSPACE_ID.format(
        workspace.subscription_id, workspace.resource_group, workspace.name
    )
    return AzureMLRegistry(SourceKind.WORKSPACE, workspace.name, build, source_id)


def registry_registry(
    name: str, credential: Callable[[], Any], **client_options: Any
) -> AzureMLRegistry:
    """The ModelRegistry of an Azure ML registry (its client makes a discovery call)."""

    def build() -> Any:
        from azure.ai.ml import MLClient

        return MLClient(credential(), registry_name=name, enable_telemetry=False, **client_options)

    return AzureMLRegistry(SourceKind.REGISTRY, name, build)


def default_credential(authority_host: str = "login.microsoftonline.com") -> Any:
    """azure-identity's DefaultAzureCredential (the AZURE_* settings, managed identity, etc.),
    signing in at the Entra of the bot's cloud."""
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(authority=authority_host)
