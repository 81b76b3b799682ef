"""The model-release domain: the records, statuses and deployment targets that the store, the
cards, the pipelines and the dialogs share.

No I/O and nothing from the rest of the bot: every other package may import this one, and it
imports only the standard library.
"""
