"""Text from outside (Azure ML, Azure DevOps, people) made safe to show on a card, and cut to fit.

Teams renders the ``text`` of a TextBlock and both the ``title`` and the ``value`` of a Fact as
markdown (bold, italics, links, lists, ``<at>`` mentions) and turns bare addresses into links, so
a model description could otherwise show a link of its choosing or pose as the bot's own words.
"""

from __future__ import annotations

import json
import re

ELLIPSIS = "\u2026"
ZERO_WIDTH_SPACE = "\u200b"

_NEWLINE = re.compile(r"\r\n?")
# C0 and C1 controls but tab and newline, and the bidirectional overrides that reorder what
# the reader sees.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_ALWAYS = re.compile(r"([\\`*\[\]<>{}~|])")
# Within a word an underscore cannot emphasise (CommonMark): snake_case names stay as they are.
_UNDERSCORE = re.compile(r"((?<![^\W_])_|_(?![^\W_]))")
_ENTITY = re.compile(r"(&)(?=#?\w+;)")
# A heading, quote, setext underline or list item at the start of a line ("1." only before a
# space: "0.95" is no list).
_LINE_MARKER = re.compile(r"^([ \t]*(?:\d+(?=[.)](?:\s|$)))?)([#+=.)-])", re.MULTILINE)
_AUTOLINK = re.compile(r"(?<=:/)(?=/)|(?i:(?<=\bwww)(?=\.))")


def plain(text: str, limit: int | None = None) -> str:
    """``text`` as markdown that Teams shows literally; at most ``limit`` card bytes (see
    :func:`card_bytes`), cut at a word boundary with "…", when given.

    Neutralises, by CommonMark backslash escapes (which Teams honours and does not show):
    emphasis (``*``, ``_`` at a word's edge, ``~``), links and images (``[``, ``]``), code
    (`````), HTML, autolinks and ``<at>`` mentions (``<``, ``>``), the ``{{DATE()}}`` functions
    (``{``, ``}``), tables (``|``), character references (``&amp;``) and, at the start of a
    line, headings, quotes and list items (``#``, ``-``, ``+``, ``=``, ``1.``). Bare addresses
    (``https://…``, ``www.…``) get an invisible zero-width space so they are not made links.
    Control characters and bidirectional overrides are dropped; newlines stay.
    """
    text = _CONTROL.sub("", _NEWLINE.sub("\n", text))
    for pattern in (_ALWAYS, _UNDERSCORE, _ENTITY):
        text = pattern.sub(r"\\\1", text)
    text = _LINE_MARKER.sub(r"\1\\\2", text)
    text = _AUTOLINK.sub(ZERO_WIDTH_SPACE, text)
    return text if limit is None else cut(text, limit)


def json_bytes(value: object) -> int:
    """The size of ``value`` in JSON as the Bot Connector client sends it (non-ASCII characters
    as ``\\u`` escapes): the measure of Teams' 28 KB limit on a message."""
    return len(json.dumps(value))


def card_bytes(text: str) -> int:
    """What ``text`` adds to a card's JSON (see :func:`json_bytes`), without its quotes."""
    return json_bytes(text) - 2


def cut(text: str, limit: int) -> str:
    """Escaped ``text`` within ``limit`` card bytes: cut at a word boundary with "…" when longer,
    never inside an escape."""
    if card_bytes(text) <= limit:
        return text
    budget, used, end = limit - card_bytes(ELLIPSIS), 0, 0
    for char in text:
        used += card_bytes(char)
        if used > budget:
            break
        end += 1
    head = text[:end]
    boundary = max(head.rfind(" "), head.rfind("\n"))
    if boundary > len(head) // 2:
        head = head[:boundary]
    head = head.rstrip()
    if (len(head) - len(head.rstrip("\\"))) % 2:  # a backslash whose character was cut off
        head = head[:-1]
    return head + ELLIPSIS


# The most card bytes one piece of outside text takes: a name (of a model, version, source,
# person or run), a reason someone gave, an error's detail.
NAME_LIMIT = 128
REASON_LIMIT = 1000
DETAIL_LIMIT = 400
