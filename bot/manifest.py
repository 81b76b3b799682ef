"""The Teams app package: manifest/manifest.template.json filled from the settings, with its icons.

``make package`` (``python -m bot.manifest``) writes dist/model-release-bot.zip to upload in Teams.
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any

from bot.config import SDK_CLIENT_ID, Settings, load_settings
from bot.settings_values import SettingsError

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "manifest" / "manifest.template.json"
ICONS = ("color.png", "outline.png")
PLACEHOLDER = re.compile(r"\$\{\{([A-Z_]+)\}\}")


def manifest_values(settings: Settings) -> dict[str, str]:
    """The values the template's ``${{NAME}}`` placeholders take."""
    if not settings.bot_client_id:
        raise SettingsError(f"{SDK_CLIENT_ID} (the bot's app id) is needed for the Teams app")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return {
        "BOT_ID": settings.bot_client_id,
        "VERSION": project["version"],
        "DEVELOPER_NAME": settings.developer_name,
        "DEVELOPER_URL": settings.developer_url,
    }


def build_manifest(values: dict[str, str], template: Path = TEMPLATE) -> dict[str, Any]:
    """The filled manifest; every placeholder must have a value."""
    text = template.read_text(encoding="utf-8")
    missing = sorted(set(PLACEHOLDER.findall(text)) - values.keys())
    if missing:
        raise SettingsError(f"the manifest template needs values for {', '.join(missing)}")
    manifest: dict[str, Any] = json.loads(
        PLACEHOLDER.sub(lambda match: json.dumps(values[match[1]])[1:-1], text)
    )
    return manifest


def write_package(manifest: dict[str, Any], target: Path) -> Path:
    """A zip holding manifest.json and the icons, at ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
        for icon in ICONS:
            package.write(TEMPLATE.parent / icon, icon)
    return target


def main() -> None:
    """Build dist/model-release-bot.zip from the settings."""
    try:
        settings = load_settings()
        values = manifest_values(settings)
        target = write_package(build_manifest(values), ROOT / "dist" / "model-release-bot.zip")
    except SettingsError as error:
        print(f"cannot build the Teams app package: {error}", file=sys.stderr)
        sys.exit(2)
    print(f"wrote {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
