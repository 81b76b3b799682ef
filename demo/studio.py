"""The demo's stand-in for Azure ML studio: the page a card's "Open in Azure ML studio" opens.

The demo's bot links its cards to this page instead of ``https://ml.azure.com`` (whose page of the
simulated workspace, with its all-zero subscription id, would not exist). The path is studio's
own: ``/model/<name>:<version>/details``, below :data:`PREFIX` of the demo's control endpoint.
"""

from __future__ import annotations

from aiohttp import web

from fakes.azureml import WORKSPACE, FakeArm
from fakes.web_page import html_page

PREFIX = "/studio"
NOTE = "Simulated Azure ML studio (the demo): the model version in the simulated workspace."


def add_studio(app: web.Application, arm: FakeArm) -> None:
    """Serve the model version pages of ``arm``'s workspace on ``app``, below :data:`PREFIX`."""

    async def details(request: web.Request) -> web.Response:
        name, _, number = request.match_info["ref"].rpartition(":")
        found = [v for v in arm.models.get(name, []) if v["version"] == number]
        if not found:
            return html_page(NOTE, "Model version not found", [], status=404)
        version = found[0]
        facts = [
            ("Model", name),
            ("Version", number),
            ("Workspace", WORKSPACE.name),
            ("Registered by", str(version.get("createdBy", ""))),
            ("Registered", str(version["createdAt"])),
        ]
        facts += [(f"Tag {k}", str(v)) for k, v in version.get("tags", {}).items()]
        facts += [(f"Property {k}", str(v)) for k, v in version.get("properties", {}).items()]
        return html_page(NOTE, f"{name}:{number}", facts)

    app.router.add_get(PREFIX + "/model/{ref}/details", details)
