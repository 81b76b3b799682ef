"""Activities as Teams sends them: messages, card clicks, installations, membership changes."""

from __future__ import annotations

import uuid
from typing import Any

from fakes.identity import APP_ID, TENANT_ID

BOT_ACCOUNT = {"id": f"28:{APP_ID}", "name": "ReleaseBot"}
USER_ID = "00000000-0000-0000-0000-0000000000a1"


def message(
    service_url: str,
    text: str,
    *,
    scope: str = "personal",
    locale: str = "en-US",
    user_object_id: str = USER_ID,
    conversation_id: str | None = None,
) -> dict[str, Any]:
    """A Teams message activity in personal chat, a group chat or a channel thread."""
    activity = base_activity(service_url, "message", scope=scope, conversation_id=conversation_id)
    activity |= {
        "text": text,
        "textFormat": "plain",
        "locale": locale,
        "from": {"id": "29:user-1", "name": "Ada Lovelace", "aadObjectId": user_object_id},
    }
    if scope != "personal":
        mention = f"<at>{BOT_ACCOUNT['name']}</at>"
        activity["text"] = f"{mention} {text}"
        activity["entities"] = [{"type": "mention", "mentioned": BOT_ACCOUNT, "text": mention}]
    return activity


CONVERSATIONS = {
    "personal": "a:1personal-chat-with-ada",
    "groupChat": "19:group-chat-id@thread.v2",
    "channel": "19:release-channel@thread.tacv2",
}


def base_activity(
    service_url: str,
    activity_type: str,
    *,
    scope: str = "personal",
    conversation_id: str | None = None,
) -> dict[str, Any]:
    """The fields every Teams activity carries."""
    conversation_id = conversation_id or CONVERSATIONS[scope]
    if scope == "channel" and activity_type == "message":
        conversation_id += ";messageid=1700000000000"  # a reply in a thread of the channel
    channel_data: dict[str, Any] = {"tenant": {"id": TENANT_ID}}
    if scope == "channel":
        channel_data |= {
            "team": {"id": "19:team@thread.tacv2"},
            "channel": {"id": CONVERSATIONS["channel"]},
        }
    return {
        "type": activity_type,
        "id": str(uuid.uuid4()),
        "timestamp": "2026-11-24T10:00:00.000Z",
        "serviceUrl": service_url,
        "channelId": "msteams",
        "from": {"id": "29:user-1", "name": "Ada Lovelace", "aadObjectId": USER_ID},
        "conversation": {"id": conversation_id, "conversationType": scope, "tenantId": TENANT_ID},
        "recipient": BOT_ACCOUNT,
        "channelData": channel_data,
        "locale": "en-US",
    }


def installation(
    service_url: str, action: str, *, scope: str = "channel", locale: str = "en-US"
) -> dict[str, Any]:
    """An installationUpdate activity: the app was added to or removed from a conversation."""
    return base_activity(service_url, "installationUpdate", scope=scope) | {
        "action": action,
        "locale": locale,
    }


def members_changed(service_url: str, *, added: bool, scope: str = "channel") -> dict[str, Any]:
    """A conversationUpdate in which the bot itself was added or removed."""
    key = "membersAdded" if added else "membersRemoved"
    return base_activity(service_url, "conversationUpdate", scope=scope) | {key: [BOT_ACCOUNT]}


ALICE = "00000000-0000-0000-0000-00000000a11c"
BOB = "00000000-0000-0000-0000-000000000b0b"


def card_action(
    service_url: str,
    verb: str,
    data: dict[str, Any],
    *,
    user: str = ALICE,
    name: str = "Alice",
    locale: str = "en-US",
) -> dict[str, Any]:
    """The invoke Teams sends when someone clicks an Action.Execute button in the channel."""
    activity = base_activity(service_url, "invoke", scope="channel")
    activity["conversation"]["id"] += ";messageid=1700000000001"
    return activity | {
        "name": "adaptiveCard/action",
        "value": {
            "action": {"type": "Action.Execute", "verb": verb, "data": data},
            "trigger": "manual",
        },
        "from": {"id": f"29:{name.lower()}", "name": name, "aadObjectId": user},
        "locale": locale,
    }
