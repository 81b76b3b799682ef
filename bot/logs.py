"""Logging set-up: one line per record, with every configured secret masked."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

MASK = "***"


class SecretMaskingFormatter(logging.Formatter):
    """Formats a record, then replaces every known secret value (also in tracebacks) by ***."""

    def __init__(self, secrets: Iterable[str], fmt: str) -> None:
        super().__init__(fmt)
        # Longest first, so that a secret containing another is masked whole.
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        """The formatted record with the secrets masked."""
        text = super().format(record)
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text


def configure_logging(level: str, secrets: Iterable[str]) -> None:
    """Log to stderr at ``level`` through the masking formatter."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        SecretMaskingFormatter(secrets, "%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The SDK logs its whole connection set-up over many lines at INFO; keep that for DEBUG.
    sdk_level = max(logging.getLevelName(level), logging.WARNING) if level != "DEBUG" else level
    logging.getLogger("microsoft_agents").setLevel(sdk_level)
    # azure-ai-ml logs every call, and each failure with the exception's text; the poller and the
    # event path say once, in their own words, what failed and what to do.
    quiet = logging.CRITICAL if level != "DEBUG" else level
    logging.getLogger("azure.ai.ml._telemetry").setLevel(quiet)
