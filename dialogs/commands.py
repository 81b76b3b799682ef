"""Parse chat text into commands, with errors that show the correct form.

Pure functions: no I/O, no SDK types. Errors carry a catalog key and parameters so that the caller
renders them in the user's language.
"""

from __future__ import annotations

import difflib
import html
import re
import shlex
from dataclasses import dataclass, field, replace
from enum import StrEnum

from dialogs.policy import MAX_EXPIRY_HOURS, MAX_REQUIRED, parse_approvers
from domain.policy import PolicyOverrides
from domain.statuses import SourceKind
from domain.target import is_target


class CommandName(StrEnum):
    """The chat commands; the value is the English word a user types."""

    HELP = "help"
    SUBSCRIBE = "subscribe"
    SUBSCRIPTIONS = "subscriptions"
    UNSUBSCRIBE = "unsubscribe"
    PENDING = "pending"
    HISTORY = "history"
    STATUS = "status"
    DEPLOY = "deploy"
    ROLLBACK = "rollback"
    AUDIT = "audit"


# Words a user may type for each command, English first, then German.
ALIASES: dict[str, CommandName] = {
    "help": CommandName.HELP,
    "?": CommandName.HELP,
    "hilfe": CommandName.HELP,
    "subscribe": CommandName.SUBSCRIBE,
    "abonnieren": CommandName.SUBSCRIBE,
    "subscriptions": CommandName.SUBSCRIPTIONS,
    "abonnements": CommandName.SUBSCRIPTIONS,
    "unsubscribe": CommandName.UNSUBSCRIBE,
    "abbestellen": CommandName.UNSUBSCRIBE,
    "pending": CommandName.PENDING,
    "ausstehend": CommandName.PENDING,
    "history": CommandName.HISTORY,
    "verlauf": CommandName.HISTORY,
    "status": CommandName.STATUS,
    "deploy": CommandName.DEPLOY,
    "bereitstellen": CommandName.DEPLOY,
    "rollback": CommandName.ROLLBACK,
    "zurücksetzen": CommandName.ROLLBACK,
    "zuruecksetzen": CommandName.ROLLBACK,
    "audit": CommandName.AUDIT,
    "protokoll": CommandName.AUDIT,
}

MODEL_PATTERN = re.compile(r"^[A-Za-z0-9_.*?\[\]!-]{1,255}$")
# One model by its exact name: MODEL_PATTERN without the wildcards.
MODEL_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,255}$")
VERSION = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
SOURCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,32}$")
TAG_KEY = re.compile(r"^[^\s=]{1,128}$")
MAX_TAG_VALUE = 256
MAX_TAGS = 10
MAX_ID_DIGITS = 18  # fits a 64-bit integer column


@dataclass(frozen=True)
class Help:
    """Show the commands."""


@dataclass(frozen=True)
class Subscribe:
    """Subscribe this conversation to model versions matching all the given filters."""

    pattern: str
    source_kind: SourceKind | None = None
    source_name: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    policy: PolicyOverrides = field(default_factory=PolicyOverrides)


@dataclass(frozen=True)
class ListSubscriptions:
    """List this conversation's subscriptions."""


@dataclass(frozen=True)
class Unsubscribe:
    """Remove a subscription by its id, or every subscription with the given pattern."""

    subscription_id: int | None = None
    pattern: str | None = None


@dataclass(frozen=True)
class ListPending:
    """List the approvals waiting in this conversation."""


@dataclass(frozen=True)
class History:
    """The past versions of a model in this conversation, with decisions and deployments."""

    model: str


@dataclass(frozen=True)
class Status:
    """What version of a model is deployed now."""

    model: str


@dataclass(frozen=True)
class Deploy:
    """Ask for approval to deploy one version of a model; the source narrows where it comes
    from when several workspaces or registries hold the same name and version."""

    model: str
    version: str
    source_kind: SourceKind | None = None
    source_name: str | None = None


@dataclass(frozen=True)
class Rollback:
    """Ask for approval to deploy again the version deployed before the current one."""

    model: str


@dataclass(frozen=True)
class Audit:
    """The audit trail of a model (or one of its versions) in this conversation."""

    model: str
    version: str | None = None


@dataclass(frozen=True)
class CommandError:
    """Text that is not a valid command: a catalog key, its parameters, and the usage to show."""

    key: str
    params: tuple[tuple[str, str | int], ...] = ()
    usage: CommandName | None = None


Command = (
    Help
    | Subscribe
    | ListSubscriptions
    | Unsubscribe
    | ListPending
    | History
    | Status
    | Deploy
    | Rollback
    | Audit
)


def normalise_text(text: str | None) -> str:
    """Chat text as a command line: HTML entities decoded, leftover mentions and tags dropped."""
    text = html.unescape(text or "")
    text = re.sub(r"<at>.*?</at>", " ", text, flags=re.IGNORECASE | re.DOTALL)
    text = re.sub(r"<[^>]{0,200}>", " ", text)
    text = text.replace("\u00a0", " ").replace("\u201c", '"').replace("\u201d", '"')
    return " ".join(text.split())


def parse_command(text: str | None) -> Command | CommandError:
    """Parse one chat message; an empty message asks for help."""
    line = normalise_text(text)
    if not line:
        return Help()
    try:
        words = shlex.split(line)
    except ValueError:
        return CommandError("error.unbalanced_quotes")
    if not words:
        return Help()
    head, args = words[0].lower(), words[1:]
    name = ALIASES.get(head)
    if name is None:
        return _unknown(head)
    return _PARSERS[name](args)


def _unknown(word: str) -> CommandError:
    close = difflib.get_close_matches(word, list(ALIASES), n=1, cutoff=0.6)
    if close:
        return CommandError(
            "error.unknown_command_suggest", (("word", word), ("suggestion", close[0]))
        )
    return CommandError("error.unknown_command", (("word", word),))


def _parse_help(_args: list[str]) -> Command | CommandError:
    return Help()


def _parse_subscriptions(args: list[str]) -> Command | CommandError:
    if args:
        return CommandError(
            "error.unexpected_argument", (("arg", args[0]),), CommandName.SUBSCRIPTIONS
        )
    return ListSubscriptions()


def _parse_subscribe(args: list[str]) -> Command | CommandError:
    usage = CommandName.SUBSCRIBE
    if not args:
        return CommandError("error.missing_pattern", usage=usage)
    pattern, options = args[0], args[1:]
    if not MODEL_PATTERN.match(pattern):
        return CommandError("error.bad_pattern", (("pattern", pattern),), usage)
    source: tuple[SourceKind, str] | None = None
    tags: dict[str, str] = {}
    policy = PolicyOverrides()
    for option in options:
        result = _parse_option(option, source, tags, policy)
        if isinstance(result, CommandError):
            return result
        if isinstance(result, PolicyOverrides):
            policy = result
        else:
            source = result or source
    return Subscribe(
        pattern=pattern,
        source_kind=source[0] if source else None,
        source_name=source[1] if source else None,
        tags=tuple(sorted(tags.items())),
        policy=policy,
    )


def _parse_policy_option(
    key: str, value: str, policy: PolicyOverrides
) -> PolicyOverrides | CommandError | None:
    """``approvers=``, ``approvals=``, ``expiry=<hours>h`` or ``deploy=``; None: not one of them."""
    usage = CommandName.SUBSCRIBE
    option = (("arg", f"{key}={value}"),)
    if key in ("approvers", "genehmiger"):
        approvers = parse_approvers(value)
        if approvers is None:
            return CommandError("error.bad_approvers", option, usage)
        return replace(policy, approvers=approvers)
    if key in ("approvals", "freigaben"):
        if not value.isdigit() or not 1 <= int(value) <= MAX_REQUIRED:
            return CommandError("error.bad_approvals", (*option, ("max", str(MAX_REQUIRED))), usage)
        return replace(policy, required_approvals=int(value))
    if key in ("expiry", "ablauf"):
        hours = value.lower().removesuffix("h")
        if not hours.isdigit() or not 1 <= int(hours) <= MAX_EXPIRY_HOURS:
            return CommandError(
                "error.bad_expiry", (*option, ("max", str(MAX_EXPIRY_HOURS))), usage
            )
        return replace(policy, expiry_hours=int(hours))
    if key in ("deploy", "bereitstellen"):
        if not is_target(value):
            return CommandError("error.bad_target", option, usage)
        return replace(policy, target=value)
    return None


def _parse_option(
    option: str,
    source: tuple[SourceKind, str] | None,
    tags: dict[str, str],
    policy: PolicyOverrides,
) -> tuple[SourceKind, str] | PolicyOverrides | CommandError | None:
    """One ``workspace=``, ``registry=``, ``tag:k=v`` or policy option; tags are added to
    ``tags``, a policy option returns the changed policy."""
    usage = CommandName.SUBSCRIBE
    key, sep, value = option.partition("=")
    if not sep:
        return CommandError("error.unexpected_argument", (("arg", option),), usage)
    changed = _parse_policy_option(key.lower(), value, policy)
    if changed is not None:
        return changed
    if key.lower().startswith("tag:"):
        tag = key[4:]
        if not TAG_KEY.match(tag) or len(value) > MAX_TAG_VALUE:
            return CommandError("error.bad_tag", (("arg", option),), usage)
        if tag in tags:
            return CommandError("error.duplicate_tag", (("tag", tag),), usage)
        if len(tags) >= MAX_TAGS:
            return CommandError("error.too_many_tags", (("max", MAX_TAGS),), usage)
        tags[tag] = value
        return None
    return _parse_source(option, source, usage)


def _parse_source(
    option: str, source: tuple[SourceKind, str] | None, usage: CommandName
) -> tuple[SourceKind, str] | CommandError:
    """A ``workspace=<name>`` or ``registry=<name>`` option, the only one of its kind."""
    key, _, value = option.partition("=")
    if key.lower() not in (SourceKind.WORKSPACE, SourceKind.REGISTRY):
        return CommandError("error.unexpected_argument", (("arg", option),), usage)
    if source is not None:
        return CommandError("error.one_source", usage=usage)
    if not SOURCE_NAME.match(value):
        return CommandError("error.bad_source", (("kind", key.lower()), ("name", value)), usage)
    return SourceKind(key.lower()), value


def _parse_unsubscribe(args: list[str]) -> Command | CommandError:
    usage = CommandName.UNSUBSCRIBE
    if len(args) != 1:
        key = "error.missing_target" if not args else "error.unexpected_argument"
        return CommandError(key, (("arg", args[-1]),) if args else (), usage)
    target = args[0].lstrip("#")
    if target.isdigit() and len(target) <= MAX_ID_DIGITS:
        return Unsubscribe(subscription_id=int(target))
    if not MODEL_PATTERN.match(target):
        return CommandError("error.bad_pattern", (("pattern", target),), usage)
    return Unsubscribe(pattern=target)


def _parse_pending(args: list[str]) -> Command | CommandError:
    if args:
        return CommandError("error.unexpected_argument", (("arg", args[0]),), CommandName.PENDING)
    return ListPending()


def _model_name(args: list[str], usage: CommandName) -> str | CommandError:
    """The model name that is the first argument."""
    if not args:
        return CommandError("error.missing_model", usage=usage)
    if not MODEL_NAME.match(args[0]):
        return CommandError("error.bad_model", (("name", args[0]),), usage)
    return args[0]


def _parse_model_only(
    args: list[str], usage: CommandName, command: type[History | Status | Rollback]
) -> Command | CommandError:
    model = _model_name(args, usage)
    if isinstance(model, CommandError):
        return model
    if len(args) > 1:
        return CommandError("error.unexpected_argument", (("arg", args[1]),), usage)
    return command(model)


def _parse_history(args: list[str]) -> Command | CommandError:
    return _parse_model_only(args, CommandName.HISTORY, History)


def _parse_status(args: list[str]) -> Command | CommandError:
    return _parse_model_only(args, CommandName.STATUS, Status)


def _parse_rollback(args: list[str]) -> Command | CommandError:
    return _parse_model_only(args, CommandName.ROLLBACK, Rollback)


def _parse_deploy(args: list[str]) -> Command | CommandError:
    usage = CommandName.DEPLOY
    model = _model_name(args, usage)
    if isinstance(model, CommandError):
        return model
    if len(args) < 2 or "=" in args[1]:
        return CommandError("error.missing_version", (("name", model),), usage)
    version = args[1]
    if not VERSION.match(version):
        return CommandError("error.bad_version", (("version", version),), usage)
    source: tuple[SourceKind, str] | None = None
    for option in args[2:]:
        parsed = _parse_source(option, source, usage)
        if isinstance(parsed, CommandError):
            return parsed
        source = parsed
    if source is None:
        return Deploy(model, version)
    return Deploy(model, version, source[0], source[1])


def _parse_audit(args: list[str]) -> Command | CommandError:
    usage = CommandName.AUDIT
    model = _model_name(args, usage)
    if isinstance(model, CommandError):
        return model
    if len(args) > 2:
        return CommandError("error.unexpected_argument", (("arg", args[2]),), usage)
    if len(args) == 1:
        return Audit(model)
    if not VERSION.match(args[1]):
        return CommandError("error.bad_version", (("version", args[1]),), usage)
    return Audit(model, args[1])


_PARSERS = {
    CommandName.HELP: _parse_help,
    CommandName.SUBSCRIBE: _parse_subscribe,
    CommandName.SUBSCRIPTIONS: _parse_subscriptions,
    CommandName.UNSUBSCRIBE: _parse_unsubscribe,
    CommandName.PENDING: _parse_pending,
    CommandName.HISTORY: _parse_history,
    CommandName.STATUS: _parse_status,
    CommandName.DEPLOY: _parse_deploy,
    CommandName.ROLLBACK: _parse_rollback,
    CommandName.AUDIT: _parse_audit,
}
