"""Storage: tables, migrations, the engine and the repository."""
