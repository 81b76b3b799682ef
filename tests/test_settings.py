"""Settings: one frozen object, clear errors, a line per missing setting, secrets never shown."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from bot.config import Secret, Settings, Workspace, load_settings
from bot.health import startup_warnings
from bot.logs import SecretMaskingFormatter
from bot.sdk_config import sdk_configuration
from bot.settings_values import SettingsError
from fakes.ports import free_port
from tests.support.bot import CLIENT_SECRET, bot_environment


def test_defaults_are_the_embedded_ones():
    settings = load_settings({}, dotenv_path=None)

    assert (settings.host, settings.port) == ("127.0.0.1", 3978)
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert settings.dev_allow_anonymous is False
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.port = 1  # type: ignore[misc]


def test_every_missing_setting_is_named_with_the_feature_it_turns_off():
    lines = startup_warnings(load_settings({}, dotenv_path=None))

    text = "\n".join(lines)
    for name in (
        "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID",
        "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__TENANTID",
        "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTSECRET",
        "RELEASEBOT_AZUREML_WORKSPACES",
        "RELEASEBOT_DEVOPS_ORGANIZATION_URL",
        "RELEASEBOT_DEVOPS_PROJECT",
    ):
        assert name in text
    assert all("so this is off:" in line for line in lines)


def test_a_fully_configured_bot_misses_nothing():
    env = bot_environment("sqlite+aiosqlite:///x.db") | {
        "RELEASEBOT_AZUREML_WORKSPACES": "00000000-0000-0000-0000-000000000000/ml-rg/ml-prod",
        "RELEASEBOT_DEVOPS_ORGANIZATION_URL": "https://dev.azure.com/contoso/",
        "RELEASEBOT_DEVOPS_PROJECT": "ml",
        "RELEASEBOT_EVENTGRID_SECRET": "event-secret",
        "RELEASEBOT_DEV_LOCAL_CONNECTOR": "false",
    }

    settings = load_settings(env, dotenv_path=None)

    assert settings.missing() == []
    assert settings.azureml_workspaces == (
        Workspace("00000000-0000-0000-0000-000000000000", "ml-rg", "ml-prod"),
    )
    assert settings.devops_organization_url == "https://dev.azure.com/contoso"


def test_the_bot_serves_its_own_tenant_unless_the_operator_names_others():
    own = "AAAAAAAA-bbbb-cccc-dddd-eeeeeeeeeeee"
    other = "99999999-8888-7777-6666-555555555555"
    bot_tenant = {"CONNECTIONS__SERVICE_CONNECTION__SETTINGS__TENANTID": own}

    default = load_settings(bot_tenant, dotenv_path=None)
    listed = load_settings(bot_tenant | {"RELEASEBOT_ALLOWED_TENANTS": other}, dotenv_path=None)
    nobody = load_settings({}, dotenv_path=None)

    assert default.allowed_tenants == {own.lower()}
    assert listed.allowed_tenants == {other}
    assert nobody.allowed_tenants == frozenset()
    assert "RELEASEBOT_ALLOWED_TENANTS" in "\n".join(startup_warnings(nobody))
    assert default.allowed_channels == {"msteams"}
    assert default.agent_app_ids == frozenset()


def test_managed_identity_needs_no_client_secret():
    env = {
        "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID": "app",
        "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__TENANTID": "tenant",
        "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__AUTHTYPE": "UserManagedIdentity",
    }

    names = [item.name for item in load_settings(env, dotenv_path=None).missing()]

    assert not any("CLIENTSECRET" in name for name in names)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("RELEASEBOT_PORT", "eighty", "RELEASEBOT_PORT must be a positive whole number"),
        ("RELEASEBOT_PORT", "70000", "between 1 and 65535"),
        ("RELEASEBOT_DEV_ALLOW_ANONYMOUS", "maybe", "must be true or false"),
        ("RELEASEBOT_LOG_LEVEL", "loud", "must be one of DEBUG, INFO"),
        (
            "RELEASEBOT_AZUREML_WORKSPACES",
            "ml-prod",
            "<subscription id>/<resource group>/<workspace>",
        ),
        ("RELEASEBOT_AZUREML_REGISTRIES", "a b", "is not a registry name"),
        ("RELEASEBOT_DEVOPS_ORGANIZATION_URL", "http://dev.azure.com/x", "must be an https:// URL"),
        (
            "RELEASEBOT_DEVOPS_ORGANIZATION_URL",
            "http://127.0.0.1.evil.example/x",
            "must be an https:// URL",
        ),
        ("RELEASEBOT_DEVELOPER_URL", "http://localhost/x", "must be an https:// URL"),
        ("RELEASEBOT_ALLOWED_TENANTS", "contoso.com", "is not an Entra id"),
        ("RELEASEBOT_AGENT_APP_IDS", "*", "is not an Entra id"),
        ("RELEASEBOT_DEPLOY_TARGETS", "pipeline:42,anything", "must name release:"),
    ],
)
def test_a_bad_value_is_refused_with_the_settings_name_and_form(name, value, expected):
    with pytest.raises(SettingsError, match=expected) as raised:
        load_settings({name: value}, dotenv_path=None)

    assert name in str(raised.value)


def test_the_environment_wins_over_the_dotenv_file(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("RELEASEBOT_PORT=4000\nRELEASEBOT_DEVOPS_PROJECT=from-file\n")

    settings = load_settings({"RELEASEBOT_PORT": "5000"}, dotenv_path=dotenv)

    assert (settings.port, settings.devops_project) == (5000, "from-file")


def test_the_sdk_configuration_closes_the_weak_defaults():
    settings = load_settings(
        {"CONNECTIONS__SERVICE_CONNECTION__SETTINGS__VALIDATE_ISSUER": "false"}, dotenv_path=None
    )

    connection = sdk_configuration(settings)["CONNECTIONS"]["SERVICE_CONNECTION"]["SETTINGS"]

    assert connection["VALIDATE_ISSUER"] == "true"
    assert connection["ANONYMOUS_ALLOWED"] == "false"


def test_secrets_hide_in_repr_and_str():
    settings = load_settings({"RELEASEBOT_DEVOPS_PAT": "pat-value-1234"}, dotenv_path=None)

    assert "pat-value-1234" not in repr(settings)
    assert "pat-value-1234" not in str(settings.devops_pat)
    assert isinstance(settings.devops_pat, Secret)
    assert settings.devops_pat.reveal() == "pat-value-1234"


def test_the_log_formatter_masks_every_secret_even_in_tracebacks():
    settings = load_settings(
        bot_environment("sqlite+aiosqlite:///x.db", RELEASEBOT_DEVOPS_PAT="pat-value-1234"),
        dotenv_path=None,
    )
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(SecretMaskingFormatter(settings.secrets(), "%(message)s"))
    logger = logging.getLogger("test.masking")
    logger.addHandler(handler)
    try:
        raise ValueError(f"login with {CLIENT_SECRET} failed")
    except ValueError:
        logger.exception("token %s and pat %s", CLIENT_SECRET, "pat-value-1234")
    finally:
        logger.removeHandler(handler)

    output = stream.getvalue()
    assert CLIENT_SECRET not in output
    assert "pat-value-1234" not in output
    assert output.count("***") == 3


def _wait_for_readyz(port: int, process: subprocess.Popen[str]) -> dict:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "the bot exited early"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as response:
                return json.load(response)
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the bot did not become ready within 30 s")


@pytest.mark.slow
def test_the_bot_starts_without_azure_settings_and_names_what_is_off(tmp_path):
    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "RELEASEBOT_PORT": str(port)}
    env["RELEASEBOT_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path}/data/bot.db"
    process = subprocess.Popen(
        [sys.executable, "app.py"], env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        report = _wait_for_readyz(port, process)
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)

    assert process.returncode == 0, stderr
    assert report["ready"] is True
    assert (
        "CLIENTID is not set, so this is off: Teams messages"
        in report["checks"]["bot_credentials"]["reason"]
    )
    for name in ("CLIENTID", "TENANTID", "CLIENTSECRET", "AZUREML_REGISTRIES", "DEVOPS_PROJECT"):
        assert f"{name} is not set, so this is off" in stderr
    assert "Traceback" not in stderr
    assert (tmp_path / "data" / "bot.db").exists()


@pytest.mark.slow
def test_a_bad_setting_stops_the_bot_with_one_clear_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "app.py"],
        env={"PATH": "/usr/bin:/bin", "RELEASEBOT_PORT": "x"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert result.stderr.strip() == (
        "model-release-bot cannot start: RELEASEBOT_PORT must be a positive whole number, not 'x'"
    )


def test_env_example_documents_every_setting_and_loads_as_the_defaults():
    example = open(".env.example", encoding="utf-8").read()  # noqa: SIM115
    ecosystem_names = {
        "agents_sdk": "CONNECTIONS__",
        "eventgrid_tenant_id": "AZURE_TENANT_ID=",
        "ca_bundle": "SSL_CERT_FILE=",
        "proxy": "HTTPS_PROXY=",
    }
    for field in dataclasses.fields(Settings):
        name = ecosystem_names.get(field.name, f"RELEASEBOT_{field.name.upper()}=")
        assert name in example, field.name

    from_example = load_settings({}, dotenv_path=".env.example")

    assert dataclasses.replace(from_example, agents_sdk={}) == load_settings({}, dotenv_path=None)
    assert all(len(line) <= 160 for line in example.splitlines())


def test_azure_devops_may_be_plain_http_on_this_machine_only():
    """The demo's simulated Azure DevOps: nothing sent to loopback can be read on the way."""
    settings = load_settings(
        {"RELEASEBOT_DEVOPS_ORGANIZATION_URL": "http://127.0.0.1:8089/fabrikam/"},
        dotenv_path=None,
    )

    assert settings.devops_organization_url == "http://127.0.0.1:8089/fabrikam"
