"""Azure DevOps REST 7.1 over aiohttp: classic releases and YAML pipeline runs.

Follows ``shared/design/AZURE-DEVOPS-NOTES.md``. Every request carries our deployment key as a
marker that a later :meth:`AzureDevOps.find` recognises (see :mod:`.markers`): the release
``description`` (plus a release property), or the YAML run name ``deploy-<key>`` and its
``deploymentKey`` parameter.
"""

from bot.pipelines.azure_devops.artifacts import match_artifact_version
from bot.pipelines.azure_devops.auth import DEVOPS_SCOPE, DevOpsAuth, entra_auth, pat_auth
from bot.pipelines.azure_devops.client import AzureDevOps, release_url_for
from bot.pipelines.azure_devops.states import release_status

__all__ = [
    "DEVOPS_SCOPE",
    "AzureDevOps",
    "DevOpsAuth",
    "entra_auth",
    "match_artifact_version",
    "pat_auth",
    "release_status",
    "release_url_for",
]
