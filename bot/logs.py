"""Logging set-up: one line per record, text or JSON, with every configured secret masked, and
the correlation id of the model version a line is about (from its event to its result)."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import Any

MASK = "***"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_correlation: ContextVar[str | None] = ContextVar("correlation_id", default=None)
# C0 and C1 controls (newlines, ANSI escapes...) and the Unicode line and paragraph separators.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# What json.dumps(ensure_ascii=False) leaves as it is, though readers may take it for a line break
# (U+0085, U+2028, U+2029) or a terminal may obey it (the C1 controls).
_RAW_IN_JSON = re.compile(r"[\x7f-\x9f\u2028\u2029]")


@contextlib.contextmanager
def correlated(correlation_id: str) -> Iterator[None]:
    """Every log line inside carries ``correlation_id`` (e.g. a model version's)."""
    token = _correlation.set(correlation_id)
    try:
        yield
    finally:
        _correlation.reset(token)


def version_correlation(source: str, name: str, version: str) -> str:
    """The correlation id of a model version (of a workspace or registry named ``source``): the
    same from its event to its deployment's result."""
    return f"{source}/{name}:{version}"


RecordFactory = Callable[..., logging.LogRecord]


def _with_correlation(factory: RecordFactory) -> RecordFactory:
    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        record.correlation_id = _correlation.get()
        return record

    return make


logging.setLogRecordFactory(_with_correlation(logging.getLogRecordFactory()))


def escape_controls(text: str) -> str:
    """``text`` with each control character written as its Python escape (``\\n``, ``\\x1b``):
    a logged value cannot start a line of its own that passes for a record, nor colour a
    terminal."""
    return _CONTROL.sub(lambda match: match[0].encode("unicode_escape").decode("ascii"), text)


class SecretMaskingFormatter(logging.Formatter):
    """Formats a record as one line (its traceback too, see :func:`escape_controls`), then
    replaces every known secret value by ***."""

    def __init__(self, secrets: Iterable[str], fmt: str) -> None:
        super().__init__(fmt)
        # Longest first, so that a secret containing another is masked whole.
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        """The formatted record on one line, with the secrets masked."""
        return self.mask(escape_controls(super().format(record)))

    def mask(self, text: str) -> str:
        """``text`` with every secret replaced by ***."""
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text


class JsonFormatter(SecretMaskingFormatter):
    """One JSON object per line: time, level, logger, message, correlation id, exception."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line, its secrets masked (also in the exception)."""
        entry: dict[str, object] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        correlation_id = getattr(record, "correlation_id", None)
        if correlation_id:
            entry["correlation_id"] = correlation_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        line = json.dumps(entry, ensure_ascii=False)
        return self.mask(_RAW_IN_JSON.sub(lambda match: f"\\u{ord(match[0]):04x}", line))


def configure_logging(level: str, secrets: Iterable[str], log_format: str = "text") -> None:
    """Log to stderr at ``level``, as text or JSON lines, through the masking formatter."""
    handler = logging.StreamHandler(sys.stderr)
    formatter = JsonFormatter if log_format == "json" else SecretMaskingFormatter
    handler.setFormatter(formatter(secrets, TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The SDK logs its whole connection set-up over many lines at INFO; keep that for DEBUG.
    sdk_level = max(logging.getLevelName(level), logging.WARNING) if level != "DEBUG" else level
    logging.getLogger("microsoft_agents").setLevel(sdk_level)
    # azure-core's HTTP logging policy writes the headers of every Azure ML request and response
    # at INFO (about twenty lines a poll), azure-identity each token it gets: the whole Azure SDK
    # tree speaks from WARNING up unless debugging.
    logging.getLogger("azure").setLevel(sdk_level)
    # azure-ai-ml logs every call, and each failure with the exception's text; the poller and the
    # event path say once, in their own words, what failed and what to do.
    quiet = logging.CRITICAL if level != "DEBUG" else level
    logging.getLogger("azure.ai.ml._telemetry").setLevel(quiet)
