"""Which subscriptions a model version matches: pure functions."""

from __future__ import annotations

import re
from fnmatch import fnmatchcase

from domain.records import ModelVersion, Subscription

_WILDCARD = re.compile(r"[*?\[]")


def literal_prefix(pattern: str) -> str:
    """The lower-cased part of a name pattern before its first wildcard; the store pre-filters
    on it, and :func:`matches` decides."""
    wildcard = _WILDCARD.search(pattern)
    return (pattern[: wildcard.start()] if wildcard else pattern).lower()


def possible_prefixes(name: str) -> list[str]:
    """Every literal prefix (:func:`literal_prefix`) of a pattern that may match ``name``: the
    lower-cased name's own prefixes, the empty one included."""
    lowered = name.lower()
    return [lowered[:end] for end in range(len(lowered) + 1)]


def matches(subscription: Subscription, version: ModelVersion) -> bool:
    """True when the version passes every filter of the subscription.

    Names and workspace or registry names compare without regard to case, as Azure does; tag
    values compare exactly.
    """
    if subscription.source_kind is not None and (
        subscription.source_kind != version.source_kind
        or (subscription.source_name or "").lower() != version.source_name.lower()
    ):
        return False
    if not fnmatchcase(version.name.lower(), subscription.name_pattern.lower()):
        return False
    return all(version.tags.get(key) == value for key, value in subscription.tags.items())
