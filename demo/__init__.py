"""The demo: the bot with simulated Azure services and the Agents Playground (make demo)."""
