"""A throwaway PostgreSQL server on 127.0.0.1 for the tests and benchmarks, from Debian's
``postgresql``.

``make test`` installs the package; the tests make their own cluster in a temporary folder (as
the ``postgres`` user when they run as root, which PostgreSQL refuses to run as), with
durability off for speed, and a fresh database per test.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]

USER = "releasebot"


def _binaries() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (Debian's postgresql): run make test")
    return Path(found[-1]).parent


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


@dataclass
class PostgresServer:
    """One cluster; :meth:`new_database` gives each test its own database."""

    port: int
    folder: Path
    _databases: int = 0

    @classmethod
    def start(cls, port: int) -> PostgresServer:
        """initdb and start a cluster listening on 127.0.0.1:``port`` only."""
        binaries = _binaries()
        folder = Path(tempfile.mkdtemp(prefix="releasebot-pg-"))
        if os.geteuid() == 0:
            server_user = pwd.getpwnam("postgres")
            os.chown(folder, server_user.pw_uid, server_user.pw_gid)
        data = folder / "data"
        run = _as_server_user
        subprocess.run(
            run(
                [
                    str(binaries / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    USER,
                    "--auth=trust",
                    "-E",
                    "UTF8",
                ]
            ),
            check=True,
            capture_output=True,
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        )
        subprocess.run(
            run([str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-l",
                 str(folder / "server.log"), "start"]),
            check=True,
            capture_output=True,
        )  # fmt: skip
        return cls(port, folder)

    def stop(self) -> None:
        """Stop the cluster at once and remove it."""
        subprocess.run(
            _as_server_user(
                [
                    str(_binaries() / "pg_ctl"),
                    "-D",
                    str(self.folder / "data"),
                    "-m",
                    "immediate",
                    "stop",
                ]
            ),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(self.folder, ignore_errors=True)

    async def new_database(self) -> str:
        """A new, empty database; its SQLAlchemy URL."""
        self._databases += 1
        name = f"test_{os.getpid()}_{self._databases}"
        connection = await asyncpg.connect(
            host="127.0.0.1", port=self.port, user=USER, database="postgres"
        )
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()
        return f"postgresql+asyncpg://{USER}@127.0.0.1:{self.port}/{name}"
