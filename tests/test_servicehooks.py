"""Azure DevOps service hooks over HTTP: authentication, limits, and the hints in real payloads.

The payloads follow the samples of MicrosoftDocs/azure-devops-docs ``docs/service-hooks/events.md``
(trimmed of fields we do not read; ids and URLs kept as the samples have them).
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.pipelines.servicehooks import (
    HookHint,
    MalformedHookError,
    ServiceHookEndpoint,
    parse_service_hook,
)
from domain.target import TargetKind

SECRET = "hook-secret-5e1f"
ROUTE = "/api/hooks/azure-devops"

DEPLOYMENT_COMPLETED: dict[str, Any] = {
    "id": "c3e52c57-187a-45c4-abe2-184a48291bad",
    "eventType": "ms.vss-release.deployment-completed-event",
    "publisherId": "rm",
    "scope": "all",
    "message": {"text": "Deployment of release Release-1 on environment Dev Succeeded."},
    "resource": {
        "environment": {
            "id": 5,
            "releaseId": 0,
            "name": "Dev",
            "status": "succeeded",
            "variables": {},
            "deploySteps": [],
            "rank": 1,
            "definitionEnvironmentId": 1,
            "queueId": 1,
            "conditions": [],
            "modifiedOn": "2016-01-21T08:19:17.26Z",
            "release": {
                "id": 1,
                "name": "Release-1",
                "url": "http://fabfiber.vsrm.visualstudio.com/DefaultCollection/Fabrikam-Fiber-Git/_apis/Release/releases/1",
            },
        },
        "project": {"id": "00000000-0000-0000-0000-000000000000", "name": "Fabrikam"},
    },
    "resourceVersion": "3.0-preview.1",
    "resourceContainers": {
        "collection": {"id": "c12d0eb8-e382-443b-9f9c-c52cba5014c2"},
        "account": {"id": "f844ec47-a9db-4511-8281-8b63f4eaf94e"},
    },
    "createdDate": "2016-09-19T13:03:28.5345098Z",
}

RUN_STATE_CHANGED: dict[str, Any] = {
    "id": "62e4351f-1c24-40f9-8510-7af03692ab45",
    "eventType": "ms.vss-pipelines.run-state-changed-event",
    "publisherId": "pipelines",
    "message": {"text": "Run 11 succeeded."},
    "resource": {
        "run": {
            "_links": {
                "self": {
                    "href": "https://codedev.ms/org/863d0a5b-3c91-4bf3-8ad7-7f33736b7f4c/_apis/Pipelines/1/runs/11"
                },
                "web": {
                    "href": "https://codedev.ms/org/863d0a5b-3c91-4bf3-8ad7-7f33736b7f4c/_build/results?buildId=11"
                },
            },
            "pipeline": {
                "url": "https://codedev.ms/org/091d79ee-dc21-465e-86a2-b4006b9d0921/_apis/Pipelines/1?revision=1",
                "id": 11,
                "revision": 1,
                "name": "TEST-CI",
                "folder": "\\",
            },
            "state": "completed",
            "result": "succeeded",
            "createdDate": "2019-12-13T04:46:13.613Z",
            "finishedDate": "2019-12-13T04:46:13.613Z",
            "url": "https://codedev.ms/org/863d0a5b-3c91-4bf3-8ad7-7f33736b7f4c/_apis/Pipelines/1/runs/11",
            "id": 11,
            "name": "11",
        },
        "pipeline": {"id": 11, "revision": 1, "name": "TEST-CI", "folder": "\\"},
    },
    "resourceVersion": "5.1-preview.1",
    "resourceContainers": {"project": {"id": "be9b3917-87e6-42a4-a549-2bc06a7a878f"}},
    "createdDate": "2019-12-13T04:46:13.683Z",
}

BUILD_COMPLETE = {
    "id": "4a5d99d6-1c75-4e53-91b9-ee80057d4ce3",
    "eventType": "build.complete",
    "publisherId": "tfs",
    "resource": {"id": 2, "buildNumber": "ConsumerAddressModule_20150407.1", "status": "succeeded"},
    "resourceVersion": "1.0",
}


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
async def hooks() -> AsyncIterator[tuple[TestClient, list[HookHint]]]:
    hints: list[HookHint] = []

    async def on_hint(hint: HookHint) -> None:
        hints.append(hint)

    endpoint = ServiceHookEndpoint(SECRET, on_hint, max_body_bytes=16_384)
    app = web.Application()
    app.router.add_post(ROUTE, endpoint.handle)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client, hints


async def post(client: TestClient, body: Any, *, auth: str | None = None, **headers: str) -> Any:
    if auth is not None:
        headers["Authorization"] = auth
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers.setdefault("Content-Type", "application/json; charset=utf-8")
    return await client.post(ROUTE, data=data, headers=headers)


@pytest.mark.parametrize(
    "auth",
    [
        None,
        basic("ado", "wrong"),
        f"Bearer {SECRET}",
        "Basic not-base64!",
        basic("ado", SECRET + "x"),
    ],
)
async def test_without_the_password_the_hook_is_refused(hooks, auth):
    client, hints = hooks

    response = await post(client, RUN_STATE_CHANGED, auth=auth)

    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="model-release-bot"'
    assert hints == []


async def test_any_user_name_is_accepted(hooks):
    client, hints = hooks

    for user in ("ado", ""):
        response = await post(client, RUN_STATE_CHANGED, auth=basic(user, SECRET))
        assert response.status == 200

    assert len(hints) == 2


async def test_a_run_state_change_is_a_pipeline_hint(hooks):
    client, hints = hooks

    response = await post(client, RUN_STATE_CHANGED, auth=basic("ado", SECRET))

    assert response.status == 200
    # The sample's pipeline.id (11) is the run's; its URLs name pipeline 1.
    assert hints == [HookHint(TargetKind.PIPELINE, 11, 1)]


async def test_a_deployment_completed_event_is_a_release_hint(hooks):
    client, hints = hooks

    response = await post(client, DEPLOYMENT_COMPLETED, auth=basic("ado", SECRET))

    assert response.status == 200
    assert hints == [HookHint(TargetKind.RELEASE, 1, None)]


async def test_other_event_types_are_ignored(hooks):
    client, hints = hooks

    response = await post(client, BUILD_COMPLETE, auth=basic("ado", SECRET))

    assert response.status == 200
    assert hints == []


async def test_an_oversized_body_is_refused(hooks):
    client, hints = hooks
    big = copy.deepcopy(RUN_STATE_CHANGED) | {"padding": "x" * 20_000}

    response = await post(client, big, auth=basic("ado", SECRET))

    assert response.status == 413
    assert hints == []


async def test_an_oversized_chunked_body_is_refused(hooks):
    client, _hints = hooks

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield b" " * 1024

    response = await client.post(
        ROUTE,
        data=chunks(),
        headers={"Authorization": basic("ado", SECRET), "Content-Type": "application/json"},
    )

    assert response.status == 413


async def test_a_body_that_is_not_json_by_type_is_refused(hooks):
    client, hints = hooks

    response = await post(
        client, RUN_STATE_CHANGED, auth=basic("ado", SECRET), **{"Content-Type": "text/plain"}
    )

    assert response.status == 415
    assert hints == []


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2]",
        json.dumps({"resource": {}}).encode(),
        json.dumps({"eventType": "ms.vss-pipelines.run-state-changed-event"}).encode(),
        json.dumps(
            {
                "eventType": "ms.vss-pipelines.run-state-changed-event",
                "resource": {"run": {"name": "x"}},
            }
        ).encode(),
        json.dumps(
            {
                "eventType": "ms.vss-release.deployment-completed-event",
                "resource": {"environment": {"releaseId": 0}},
            }
        ).encode(),
    ],
)
async def test_malformed_bodies_are_bad_requests(hooks, body):
    client, hints = hooks

    response = await post(client, body, auth=basic("ado", SECRET))

    assert response.status == 400
    assert await response.text()
    assert hints == []


def test_the_run_id_is_read_from_the_url_when_the_payload_leaves_it_out():
    event = copy.deepcopy(RUN_STATE_CHANGED)
    del event["resource"]["run"]["id"]
    del event["resource"]["run"]["url"]

    assert parse_service_hook(json.dumps(event).encode()) == HookHint(TargetKind.PIPELINE, 11, 1)


def test_the_release_id_falls_back_to_the_deployment():
    event = copy.deepcopy(DEPLOYMENT_COMPLETED)
    del event["resource"]["environment"]["release"]
    event["resource"]["deployment"] = {
        "id": 9,
        "release": {"id": 7, "name": "Release-7"},
        "releaseDefinition": {"id": 12, "name": "fraud_model.CD"},
        "deploymentStatus": "failed",
        "operationStatus": "phaseFailed",
        "attempt": 1,
    }

    assert parse_service_hook(json.dumps(event).encode()) == HookHint(TargetKind.RELEASE, 7, 12)


def test_malformed_is_a_value_error():
    with pytest.raises(ValueError, match="not JSON"):
        parse_service_hook(b"\xff\xfe")
    assert issubclass(MalformedHookError, ValueError)


async def test_a_failing_consumer_still_answers_200():
    async def on_hint(_hint: HookHint) -> None:
        raise RuntimeError("tracker is down")

    endpoint = ServiceHookEndpoint(SECRET, on_hint, max_body_bytes=16_384)
    app = web.Application()
    app.router.add_post(ROUTE, endpoint.handle)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        response = await post(client, RUN_STATE_CHANGED, auth=basic("ado", SECRET))

    assert response.status == 200


def test_an_empty_secret_is_refused():
    async def on_hint(_hint: HookHint) -> None:
        return None

    with pytest.raises(ValueError, match="secret"):
        ServiceHookEndpoint("", on_hint, max_body_bytes=1024)
