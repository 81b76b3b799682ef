"""The layers of docs/architecture.md, held: each package imports only what its layer may."""

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STDLIB = sys.stdlib_module_names
TEST_ONLY = ("tests", "fakes", "demo", "bench")


def imports_of(folder: str) -> dict[str, set[str]]:
    """Each module under ``folder`` with the top two levels of every module it imports."""
    found = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = {".".join(n.split(".")[:2]) for n in names}
    return found


def breaches(folder: str, allowed: tuple[str, ...]) -> list[str]:
    """The imports of ``folder`` outside the standard library and ``allowed`` packages."""
    return [
        f"{module} imports {name}"
        for module, names in imports_of(folder).items()
        for name in sorted(names)
        if name.split(".")[0] not in STDLIB and not name.startswith(allowed)
    ]


def test_the_domain_imports_only_the_standard_library():
    assert breaches("domain", ("domain",)) == []


def test_the_dialogs_import_only_the_domain():
    assert breaches("dialogs", ("domain", "dialogs")) == []


def test_cards_are_pure_functions_of_records():
    allowed = ("domain", "dialogs", "bot.cards", "bot.i18n", "bot.cloud", "typing_extensions")
    assert breaches("bot/cards", allowed) == []


def test_the_store_knows_no_edge_adapter_or_worker():
    allowed = (
        *("domain", "dialogs", "bot.store", "sqlalchemy", "alembic"),
        *("bot.config", "bot.matching", "bot.ratelimit"),  # plumbing and pure functions
    )
    assert breaches("bot/store", allowed) == []


@pytest.mark.parametrize("folder", ["bot", "domain", "dialogs"])
def test_the_product_imports_no_test_code(folder):
    leaks = [
        f"{module} imports {name}"
        for module, names in imports_of(folder).items()
        for name in names
        if name.split(".")[0] in TEST_ONLY
    ]
    assert leaks == []


def test_the_rule_finds_a_breach(tmp_path, monkeypatch):
    (tmp_path / "domain").mkdir()
    (tmp_path / "domain" / "leak.py").write_text("import sqlalchemy\nfrom bot.store import x\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert breaches("domain", ("domain",)) == [
        "domain/leak.py imports bot.store",
        "domain/leak.py imports sqlalchemy",
    ]
