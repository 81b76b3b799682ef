"""Attacks on the bot, each sent as an attacker would: over HTTP, signed where a signature is needed."""
