"""Loopback stand-ins for the services the bot talks to (Azure DevOps, Azure ML, the Bot Framework
identity, PostgreSQL) and the bot as a process on them: shared by the tests, the demo and the
benchmarks, never part of the product image."""
