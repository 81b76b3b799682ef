"""Our bot for messages_throughput.py: the real composition root, with signing keys on loopback.

Exactly what the tests run: the SDK's real JWT validation reads the benchmark's JWKS, and a stub
stands in for MSAL's outbound token. Usage: python bench/agents_bot.py PORT JWKS_URL
(settings from the environment).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp import web
from microsoft_agents.hosting.core.authorization import JwtTokenValidator

from app import create_app
from bot.config import load_settings
from bot.logs import configure_logging
from tests.identity import StubTokenProvider, loopback_key_manager

port, jwks_url = int(sys.argv[1]), sys.argv[2]
JwtTokenValidator._jwk_client_manager = loopback_key_manager(jwks_url)
settings = load_settings(dotenv_path=None)
configure_logging(settings.log_level, settings.secrets())
web.run_app(
    # The benchmarks measure the push path; there is no Azure here to poll.
    create_app(settings, StubTokenProvider, registries=[]),
    host="127.0.0.1",
    port=port,
    print=None,
    access_log=None,
)
