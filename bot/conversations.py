"""Conversation references: what the bot needs to message a conversation later, kept current."""

from __future__ import annotations

import re
from typing import Any

from microsoft_agents.activity import Activity

from bot.store.store import Store
from domain.records import ConversationInfo

# A reply in a channel thread carries the thread's root message id: ";messageid=123".
_THREAD_SUFFIX = re.compile(r";messageid=\d+$")


def conversation_info(activity: Activity) -> ConversationInfo | None:
    """The conversation an activity belongs to, or None if it names none we can message."""
    conversation = activity.conversation
    if conversation is None or not conversation.id or not activity.service_url:
        return None
    conversation_id = _THREAD_SUFFIX.sub("", conversation.id)
    reference = activity.get_conversation_reference()
    reference.conversation = conversation.model_copy(update={"id": conversation_id})
    reference.activity_id = None
    reference.request_id = None  # the SDK's per-request id would make every reference look new
    if conversation.conversation_type in ("channel", "groupChat"):
        reference.user = None  # who spoke last does not matter for posting to the conversation
    return ConversationInfo(
        channel_id=str(activity.channel_id or ""),
        conversation_id=conversation_id,
        conversation_type=conversation.conversation_type or "personal",
        tenant_id=conversation.tenant_id or channel_data_tenant(activity.channel_data),
        service_url=activity.service_url,
        name=conversation.name,
        locale=activity.locale,
        reference=reference.model_dump_json(by_alias=True, exclude_none=True),
    )


def channel_data_tenant(channel_data: Any) -> str | None:
    """The tenant id Teams puts in ``channelData.tenant.id``, if any."""
    tenant = channel_data.get("tenant") if isinstance(channel_data, dict) else None
    tenant_id = tenant.get("id") if isinstance(tenant, dict) else None
    return tenant_id if isinstance(tenant_id, str) else None


class ConversationDirectory:
    """Stores conversation references, skipping the write when nothing changed since the last one.

    The cache only avoids redundant writes on this replica; the store stays the truth.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._known: dict[tuple[str, str], tuple[Fingerprint, int]] = {}

    async def remember(self, activity: Activity) -> int:
        """Refresh the stored reference of a conversation that is talking to us; its id."""
        fingerprint = _fingerprint(activity)
        known = self._known.get(_key(fingerprint))
        if known is not None and known[0] == fingerprint:
            return known[1]  # without building the reference: most turns end here
        conversation_ref, _ = await self.install(activity)
        return conversation_ref

    async def install(self, activity: Activity) -> tuple[int, bool]:
        """Store the conversation as active; its id and whether it just became active."""
        info = _required_info(activity)
        conversation_ref, activated = await self._store.conversations.save(info)
        self._known[info.key] = (_fingerprint(activity), conversation_ref)
        return conversation_ref, activated

    async def uninstall(self, activity: Activity) -> bool:
        """Deactivate the conversation: the bot was removed from it."""
        info = _required_info(activity)
        self._known.pop(info.key, None)
        return await self._store.conversations.deactivate(*info.key)


Fingerprint = tuple[object, ...]


def _required_info(activity: Activity) -> ConversationInfo:
    info = conversation_info(activity)
    if info is None:  # the HTTP layer refuses activities without conversation or serviceUrl
        raise ValueError("activity names no conversation")
    return info


def _key(fingerprint: Fingerprint) -> tuple[str, str]:
    """The conversation's key in the store, from its fingerprint."""
    return str(fingerprint[2]), str(fingerprint[3])


def _fingerprint(activity: Activity) -> Fingerprint:
    """The raw fields a stored reference is made of: cheap to compare on every turn."""
    conversation, bot, user = activity.conversation, activity.recipient, activity.from_property
    if conversation is None or not conversation.id:  # the HTTP layer refuses such activities
        raise ValueError("activity names no conversation")
    shared = conversation.conversation_type in ("channel", "groupChat")
    return (
        activity.service_url,
        activity.locale,
        str(activity.channel_id or ""),
        _THREAD_SUFFIX.sub("", conversation.id),
        conversation.conversation_type,
        conversation.name,
        conversation.tenant_id,
        channel_data_tenant(activity.channel_data),
        (bot.id, bot.name) if bot else None,
        (user.id, user.name, user.aad_object_id) if user and not shared else None,
    )
