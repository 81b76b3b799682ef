"""Deployment requests as the deployment worker hands them to the Azure DevOps client."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.pipelines.deployer import DeploymentRequest
from domain.target import Target


def deployment(
    target: Target, key: str = "dep-1", version: str = "2", **fields: Any
) -> DeploymentRequest:
    """A request to deploy ``fraud_model`` ``version`` with ``target`` (``fields`` override)."""
    values: dict[str, Any] = {
        "deployment_key": key,
        "target": target,
        "model_name": "fraud_model",
        "model_version": version,
        "source": "ml-prod",
        "requested_by": "ada@contoso.com, grace@contoso.com",
        "not_before": datetime.now(UTC),
    }
    return DeploymentRequest(**(values | fields))
