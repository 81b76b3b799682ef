"""The comparison bot for messages_throughput.py: a minimal botbuilder-core echo bot on aiohttp.

Configured as in production (app id and password, so incoming tokens are validated and replies
carry a token), with the two Microsoft endpoints pointed at the benchmark: signing keys come from
its loopback OpenID document, and the outbound token is a fixed string instead of an MSAL call.
Runs in .venv-bench (botbuilder is not a runtime dependency).
Usage: python botbuilder_echo.py PORT OPENID_URL APP_ID
"""

import sys

from aiohttp import web
from botbuilder.core import BotFrameworkAdapter, BotFrameworkAdapterSettings, TurnContext
from botbuilder.schema import Activity
from botframework.connector.auth import ChannelValidation, MicrosoftAppCredentials

port, openid_url, app_id = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ChannelValidation.open_id_metadata_endpoint = openid_url


def fixed_token(_credentials: MicrosoftAppCredentials, _force_refresh: bool = False) -> str:
    return "outbound-token"


MicrosoftAppCredentials.get_access_token = fixed_token
adapter = BotFrameworkAdapter(BotFrameworkAdapterSettings(app_id=app_id, app_password="bench"))


async def on_turn(context: TurnContext) -> None:
    if context.activity.type == "message":
        await context.send_activity(f"Echo: {context.activity.text}")


async def messages(request: web.Request) -> web.Response:
    activity = Activity().deserialize(await request.json())
    try:
        response = await adapter.process_activity(
            activity, request.headers.get("Authorization", ""), on_turn
        )
    except PermissionError:
        return web.Response(status=401)
    return web.Response(status=response.status if response else 202)


app = web.Application()
app.router.add_post("/api/messages", messages)
web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)
