"""The Teams app package: the filled manifest passes the official schema, offline; the icons fit."""

from __future__ import annotations

import json
import struct
import subprocess
import zipfile
from pathlib import Path

import pytest

from bot.config import load_settings
from bot.manifest import ICONS, TEMPLATE, build_manifest, manifest_values, write_package
from bot.settings_values import SettingsError
from dialogs.commands import CommandName
from fakes.identity import APP_ID

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ROOT / "node_modules" / "@microsoft" / "app-manifest" / "build" / "json-schemas" / "teams"


def schema_errors(manifest: dict, tmp_path: Path) -> list:
    version = manifest["manifestVersion"]
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    result = subprocess.run(
        [
            "node",
            str(ROOT / "tests" / "validate_manifest.js"),
            str(path),
            str(SCHEMAS / f"v{version}" / "MicrosoftTeams.schema.json"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert result.stdout, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def manifest() -> dict:
    settings = load_settings(
        {"CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID": APP_ID}, dotenv_path=None
    )
    return build_manifest(manifest_values(settings))


@pytest.mark.slow
def test_the_filled_manifest_passes_the_official_schema(manifest, tmp_path):
    assert schema_errors(manifest, tmp_path) == []


@pytest.mark.slow
def test_the_validation_catches_a_broken_manifest(manifest, tmp_path):
    del manifest["developer"]
    manifest["bots"][0]["scopes"] = ["everywhere"]

    assert len(schema_errors(manifest, tmp_path)) >= 2


def test_the_bot_serves_every_scope_and_lists_the_chat_commands(manifest):
    bot = manifest["bots"][0]

    assert bot["botId"] == manifest["id"] == APP_ID
    assert set(bot["scopes"]) == {"personal", "team", "groupChat"}
    assert len(bot["commandLists"]) <= 3
    titles = [command["title"] for command in bot["commandLists"][0]["commands"]]
    assert len(titles) <= 12
    assert set(titles) == {command.value for command in CommandName}


def test_the_manifest_uses_a_current_schema(manifest):
    minors = sorted(
        int(p.name.split(".")[1]) for p in SCHEMAS.iterdir() if p.name.startswith("v1.")
    )
    assert int(manifest["manifestVersion"].split(".")[1]) >= minors[-1] - 6  # at most six behind


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_the_package_holds_the_manifest_and_icons_of_the_right_size(manifest, tmp_path):
    package = write_package(manifest, tmp_path / "app.zip")

    with zipfile.ZipFile(package) as archive:
        assert sorted(archive.namelist()) == sorted(["manifest.json", *ICONS])
        assert json.loads(archive.read("manifest.json")) == manifest
        assert png_size(archive.read("color.png")) == (192, 192)
        assert png_size(archive.read("outline.png")) == (32, 32)


def test_without_an_app_id_there_is_no_package():
    with pytest.raises(SettingsError, match="CLIENTID"):
        manifest_values(load_settings({}, dotenv_path=None))


def test_every_placeholder_needs_a_value():
    with pytest.raises(SettingsError, match="BOT_ID"):
        build_manifest({"VERSION": "1"}, TEMPLATE)
