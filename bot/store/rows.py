"""Records from stored rows and rows from records, where several parts of the store need them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Row

from bot.store.clock import aware
from domain.policy import PolicyOverrides
from domain.records import DeploymentRecord, ModelVersion, Subscription
from domain.statuses import DeploymentStatus, RunStatus, SourceKind


def model_version(row: Mapping[Any, Any]) -> ModelVersion:
    """A model version from its stored columns."""
    return ModelVersion(
        source_kind=SourceKind(row["source_kind"]),
        source_name=row["source_name"],
        name=row["name"],
        version=row["version"],
        tags=json.loads(row["tags"]),
        properties=json.loads(row["properties"]),
        description=row["description"],
        created_by=row["created_by"],
        created_by_type=row["created_by_type"],
        created_at=row["created_at"],
        source_id=row["source_id"],
    )


def version_values(version: ModelVersion) -> dict[str, Any]:
    """The columns of a model version."""
    return {
        "source_kind": version.source_kind,
        "source_name": version.source_name,
        "name": version.name,
        "version": version.version,
        "tags": json.dumps(version.tags, sort_keys=True, ensure_ascii=False),
        "properties": json.dumps(version.properties, sort_keys=True, ensure_ascii=False),
        "description": version.description,
        "created_by": version.created_by,
        "created_by_type": version.created_by_type,
        "created_at": version.created_at,
        "source_id": version.source_id,
    }


def subscription_record(row: Row[Any]) -> Subscription:
    """A subscription from its stored columns."""
    tags: dict[str, str] = json.loads(row.tags)
    return Subscription(
        id=row.id,
        conversation_ref=row.conversation_ref,
        name_pattern=row.name_pattern,
        source_kind=SourceKind(row.source_kind) if row.source_kind else None,
        source_name=row.source_name or None,
        tags=tags,
        created_by=row.created_by,
        created_by_name=row.created_by_name,
        created_at=row.created_at,
        policy=_overrides(row),
    )


def _overrides(row: Row[Any]) -> PolicyOverrides:
    return PolicyOverrides(
        approvers=frozenset(json.loads(row.approvers)) if row.approvers is not None else None,
        required_approvals=row.required_approvals,
        expiry_hours=row.expiry_hours,
        target=row.target,
    )


def policy_values(policy: PolicyOverrides) -> dict[str, Any]:
    """The columns of a subscription's policy."""
    approvers = sorted(policy.approvers) if policy.approvers is not None else None
    return {
        "approvers": json.dumps(approvers) if approvers is not None else None,
        "required_approvals": policy.required_approvals,
        "expiry_hours": policy.expiry_hours,
        "target": policy.target,
    }


def deployment_record(row: Row[Any]) -> DeploymentRecord:
    """A deployment from its stored columns."""
    return DeploymentRecord(
        id=row.id,
        key=row.deployment_key,
        target=row.target,
        requested_by=row.requested_by,
        status=DeploymentStatus(row.status),
        run_status=RunStatus(row.run_status) if row.run_status else None,
        run_id=row.run_id,
        run_name=row.run_name,
        web_url=row.web_url,
        logs_url=row.logs_url,
        detail=row.detail,
        error_code=row.error_code,
        last_error=row.last_error,
        attempts=row.attempts,
        created_at=aware(row.created_at),
        finished_at=aware(row.finished_at),
        result_reported=row.result_reported,
    )
