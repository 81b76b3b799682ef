"""Fixtures the attack scenarios share with the behaviour tests."""

from tests.test_announce import entra_bot

__all__ = ["entra_bot"]
