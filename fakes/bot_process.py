"""Our bot as a process, for the benchmarks and the crash tests: the real composition root, with
signing keys on loopback.

Exactly what the tests run: the SDK's real JWT validation reads the given JWKS, and a stub stands
in for MSAL's outbound token. Usage: python fakes/bot_process.py PORT JWKS_URL [DEVOPS_URL]
(settings from the environment; DEVOPS_URL: a loopback Azure DevOps organization, with the
tests' PAT). With RELEASEBOT_TEST_ARM_URL and RELEASEBOT_TEST_ARM_CERT in the environment (a
loopback Azure ML, fakes/azureml.py's FakeArm, and its certificate), the bot polls its workspace and
reads there the versions that events name; without, no event is announced.
"""

import os
import sys
from pathlib import Path
from typing import cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp import ClientSession, web
from microsoft_agents.hosting.core.authorization import JwtTokenValidator

from app import HANDLER_GRACE_SECONDS, TokenProviderFactory, create_app
from bot.config import load_settings
from bot.logs import configure_logging
from bot.pipelines.azure_devops import AzureDevOps, pat_auth
from bot.registry.azureml import ModelRegistry
from fakes.azureml import loopback_registry
from fakes.devops import PAT, PROJECT
from fakes.identity import StubTokenProvider, loopback_key_manager


async def bot(devops_url: str | None) -> web.Application:
    """The app; its Azure DevOps client, if any, on a session closed with it."""
    deployer = None
    if devops_url:
        session = ClientSession()
        deployer = AzureDevOps(session, devops_url, PROJECT, pat_auth(PAT))
    app = await create_app(
        settings,
        cast(TokenProviderFactory, StubTokenProvider),
        registries=azure_ml(),
        deployer=deployer,
    )
    if deployer is not None:

        async def close_session(_app: web.Application) -> None:
            await session.close()

        app.on_cleanup.append(close_session)
    return app


def azure_ml() -> list[ModelRegistry]:
    """The loopback Azure ML of the environment, if any."""
    url = os.environ.get("RELEASEBOT_TEST_ARM_URL")
    return [loopback_registry(url, os.environ["RELEASEBOT_TEST_ARM_CERT"])] if url else []


port, jwks_url = int(sys.argv[1]), sys.argv[2]
JwtTokenValidator._jwk_client_manager = loopback_key_manager(jwks_url)
settings = load_settings(dotenv_path=None)
configure_logging(settings.log_level, settings.secrets(), settings.log_format)
web.run_app(
    bot(sys.argv[3] if len(sys.argv) > 3 else None),
    host="127.0.0.1",
    port=port,
    shutdown_timeout=HANDLER_GRACE_SECONDS,
    print=None,
    access_log=None,
)
