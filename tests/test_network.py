"""Behind a corporate proxy with its own TLS root: every outbound call goes through the proxy and
trusts the configured CA bundle, and a failed hop is named with its host and the fix.

The proxy (``tests/proxy.py``) inspects TLS with a CA made in the test, the way corporate proxies
do, and forwards dev.azure.com, vsrm.dev.azure.com and management.azure.com to loopback stand-ins;
nothing leaves the machine and no name is resolved (the network guard would fail the test).
"""

from __future__ import annotations

import dataclasses
import socket
import ssl
import urllib.error
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ServiceRequestError
from jwt.exceptions import PyJWKClientConnectionError

from bot.cards.verbs import APPROVE
from bot.network import client_session, network_problem
from bot.pipelines.azure_devops import AzureDevOps, pat_auth
from bot.pipelines.deployer import DeployError, DeployErrorCode, DeploymentRequest
from bot.registry.azureml import failure_reason, workspace_registry
from domain.target import Target, TargetKind
from fakes.azureml import WORKSPACE, FakeArm, FakeCredential
from fakes.devops import PAT, PROJECT, FakeDevOps
from tests.support.activities import message
from tests.support.approvals import announce, click, start, wait_for_update
from tests.support.bot import BotUnderTest
from tests.support.cards import card_text
from tests.support.proxy import CertificateAuthority, InspectingProxy, Upstream

DEVOPS = "https://dev.azure.com/fabrikam"
PIPELINE = Target(TargetKind.PIPELINE, 42)
PROXY_USER, PROXY_PASSWORD = "svc-releasebot", "pr0xy-Secret-77"


@pytest.fixture
def authority(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority(tmp_path)


async def proxy_for(
    authority: CertificateAuthority,
    devops: FakeDevOps,
    arm: FakeArm,
    credentials: tuple[str, str] | None = None,
) -> InspectingProxy:
    assert arm.server is not None
    upstreams = {
        "dev.azure.com": Upstream(devops.port),
        "vsrm.dev.azure.com": Upstream(devops.port),
        "management.azure.com": Upstream(arm.server.port, tls=True),
    }
    return await InspectingProxy(authority, upstreams, credentials).start()


@pytest.fixture
async def proxy(
    authority: CertificateAuthority, devops: FakeDevOps, arm: FakeArm, monkeypatch
) -> AsyncIterator[InspectingProxy]:
    inspecting = await proxy_for(authority, devops, arm)
    monkeypatch.setenv("HTTPS_PROXY", inspecting.url())
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    yield inspecting
    await inspecting.close()


def run_request(key: str = "dep-net-1") -> DeploymentRequest:
    return DeploymentRequest(
        deployment_key=key,
        target=PIPELINE,
        model_name="fraud_model",
        model_version="1",
        source="ml-prod",
        requested_by="ada@contoso.com",
        not_before=datetime.now(UTC),
    )


# --- Azure DevOps -------------------------------------------------------------------------------


async def start_deploying(start_bot: Any, **settings: str) -> BotUnderTest:
    """The bot, deploying to pipeline 42 of the organization at dev.azure.com with a PAT."""
    return await start(
        start_bot,
        RELEASEBOT_DEVOPS_ORGANIZATION_URL=DEVOPS,
        RELEASEBOT_DEVOPS_PROJECT=PROJECT,
        RELEASEBOT_DEVOPS_PAT=PAT,
        RELEASEBOT_DEPLOY_TARGET="pipeline:42",
        **settings,
    )


async def test_an_approval_reaches_azure_devops_through_the_proxy_with_the_ca_bundle(
    start_bot, proxy, authority, devops, monkeypatch
):
    monkeypatch.setenv("SSL_CERT_FILE", str(authority.bundle))  # restored after the test
    bot = await start_deploying(start_bot, SSL_CERT_FILE=str(authority.bundle))
    approval_id = await announce(bot)

    await click(bot, APPROVE, {"approvalId": approval_id})
    card = await wait_for_update(bot, "Run 1001")

    assert devops.runs_created == 1
    assert "dev.azure.com" in proxy.hosts_seen
    assert "Approved" in card_text(card)


@pytest.mark.slow
async def test_without_the_ca_bundle_the_card_readyz_and_log_name_the_host_and_fix(
    start_bot, proxy, devops, caplog
):
    bot = await start_deploying(start_bot)
    approval_id = await announce(bot)

    await click(bot, APPROVE, {"approvalId": approval_id})
    card = await wait_for_update(bot, "could not be reached")
    async with bot.session.get(bot.server.make_url("/readyz")) as response:
        readiness = (await response.json())["checks"]["azure_devops"]

    fix = "TLS: the certificate of dev.azure.com is not trusted"
    assert fix in card_text(card)
    assert readiness["ok"] is False
    assert readiness["reason"].startswith(fix)
    assert [r.getMessage() for r in caplog.records if fix in r.getMessage()]
    assert "Traceback" not in caplog.text
    assert devops.runs_created == 0


async def test_releases_go_to_their_own_host_through_the_proxy(proxy, authority, devops):
    devops.add_release_definition(12, "fraud_model")
    devops.add_model_version(12, "_fraud_model", "fraud_model:1", "1")
    async with client_session(str(authority.bundle)) as session:
        client = AzureDevOps(session, DEVOPS, PROJECT, pat_auth(PAT))
        release = await client.trigger(
            dataclasses.replace(run_request(), target=Target(TargetKind.RELEASE, 12))
        )

    assert release.run_id == 1
    assert "vsrm.dev.azure.com" in proxy.hosts_seen


async def test_without_the_ca_bundle_the_error_says_certificate_and_names_the_host(proxy, devops):
    async with client_session(None) as session:
        client = AzureDevOps(session, DEVOPS, PROJECT, pat_auth(PAT))
        with pytest.raises(DeployError) as raised:
            await client.trigger(run_request())

    assert raised.value.code is DeployErrorCode.NETWORK
    assert not raised.value.retryable
    assert "certificate of dev.azure.com" in raised.value.detail
    assert "SSL_CERT_FILE" in raised.value.detail
    assert devops.runs_created == 0


async def test_proxy_credentials_come_from_https_proxy_and_never_show(
    authority, devops, arm, monkeypatch, caplog
):
    guarded = await proxy_for(authority, devops, arm, (PROXY_USER, PROXY_PASSWORD))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    try:
        monkeypatch.setenv("HTTPS_PROXY", guarded.url())
        async with client_session(str(authority.bundle)) as session:
            client = AzureDevOps(session, DEVOPS, PROJECT, pat_auth(PAT))
            with pytest.raises(DeployError) as refused:
                await client.trigger(run_request())
        monkeypatch.setenv("HTTPS_PROXY", guarded.url(PROXY_USER, PROXY_PASSWORD))
        async with client_session(str(authority.bundle)) as session:
            client = AzureDevOps(session, DEVOPS, PROJECT, pat_auth(PAT))
            started = await client.trigger(run_request("dep-net-2"))
    finally:
        await guarded.close()

    assert refused.value.code is DeployErrorCode.NETWORK
    assert "407" in refused.value.detail
    assert "HTTPS_PROXY" in refused.value.detail
    assert started.run_id > 0
    assert guarded.refused == ["dev.azure.com"]
    assert PROXY_PASSWORD not in refused.value.detail + caplog.text


# --- the Bot Connector ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["upper", "lower"])
async def test_replies_reach_the_connector_through_the_proxy_variables(bot, monkeypatch, case):
    """The recording connector plays a plain HTTP proxy here: the service URL names a host that
    is never resolved, so a reply arrives only through the proxy, each time (the signing keys
    are on loopback, which NO_PROXY names)."""
    proxy, no_proxy = ("HTTP_PROXY", "NO_PROXY") if case == "upper" else ("http_proxy", "no_proxy")
    for variable in ("HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv(proxy, bot.connector.url)
    monkeypatch.setenv(no_proxy, "127.0.0.1,localhost")
    service_url = "http://smba.teams.invalid/amer/"

    for text in ("help", "subscriptions"):
        status, _ = await bot.post(
            message(service_url, text), token=bot.keys.token(serviceurl=service_url)
        )
        assert status == 202

    assert [call.path.split("/v3/")[0] for call in bot.connector.calls] == ["/amer"] * 2


async def test_no_proxy_sends_replies_to_the_connector_directly(bot, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens: a failed reply
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("http_proxy", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)

    await bot.say("help")

    assert len(bot.connector.calls) == 1


# --- Azure ML (azure-ai-ml on requests) -----------------------------------------------------------


async def test_azure_ml_is_polled_through_the_proxy_with_the_ca_bundle(
    proxy, authority, monkeypatch
):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(authority.bundle))
    registry = workspace_registry(WORKSPACE, FakeCredential, cloud="AzureCloud")  # as in production

    containers = await registry.containers()

    assert [c.name for c in containers] == ["fraud_model"]
    assert "management.azure.com" in proxy.hosts_seen


async def test_azure_ml_without_the_ca_bundle_names_the_certificate_and_the_host(
    proxy, monkeypatch
):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    registry = workspace_registry(WORKSPACE, FakeCredential, cloud="AzureCloud", retry_total=0)

    with pytest.raises(ServiceRequestError) as raised:
        await registry.containers()

    reason = failure_reason(raised.value)
    assert "certificate of management.azure.com" in reason
    assert "SSL_CERT_FILE" in reason


# --- the words for each hop ---------------------------------------------------------------------


def test_a_dns_failure_names_the_host_and_the_proxy_settings():
    error = OSError("Cannot connect to host")
    error.__cause__ = socket.gaierror(-2, "Name or service not known")

    problem = network_problem(error, "dev.azure.com")

    assert problem is not None
    assert str(problem) == (
        "DNS: dev.azure.com cannot be resolved: check DNS, or HTTPS_PROXY and NO_PROXY"
    )
    assert not problem.lasting


def test_other_errors_are_not_taken_for_network_problems():
    assert network_problem(ValueError("bad JSON"), "dev.azure.com") is None
    assert network_problem(ssl.SSLError("handshake"), "dev.azure.com") is None


def test_a_signing_key_fetch_that_fails_on_tls_is_said_so():
    """PyJWT's key fetch (urllib) wraps the TLS failure twice, without the URL."""
    reason = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify")
    try:
        try:
            raise urllib.error.URLError(reason)
        except urllib.error.URLError as fetch_failed:
            raise PyJWKClientConnectionError("Fail to fetch data from the url") from fetch_failed
    except PyJWKClientConnectionError as error:
        problem = network_problem(error)

    assert problem is not None
    assert str(problem).startswith("TLS: the certificate of the server is not trusted")
    assert problem.lasting
