"""German as Germans write it: every message says "Sie", and uses the terms of the glossary.

The informal address is found by rules that do not confuse it with legitimate German:
- the pronouns and verb forms that are only ever informal (du, dich, dir, dein…, euch, euer,
  eure…, habt, seid, könnt, meintet…) are forbidden wherever they stand;
- lowercase "ihr" is also "her" or "their" ("ihr Ablauf"), a possessive followed by its noun,
  which German capitalises: "ihr" followed by no noun ("Meintet ihr …?", "außer ihr nennt
  eine") is the informal "you";
- an imperative opens its clause: the informal one ("Schreibt …", "Gib …") has no "Sie" after
  the verb, the formal one has ("Schreiben Sie …");
- the formal "Sie" after an imperative is capitalised ("Versuchen Sie", not "Versuchen sie");
- "Ihr"/"Ihre" opening a sentence reads as the formal "your" but may be "her"/"its": each such
  message is reviewed and listed in REVIEWED_SENTENCE_START_IHR.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.i18n import Translator

GERMAN = Translator("de").catalog()
GLOSSARY = Path(__file__).resolve().parents[1] / "docs" / "glossary-de.md"

ONLY_INFORMAL = re.compile(
    r"\b(du|dich|dir|dein\w*|euch|euer|eur(?:e|em|en|er|es)|habt|seid|könnt|wollt|müsst|dürft"
    r"|sollt|möchtet|wisst|werdet|meintet|hättet|wärt|würdet|hast|bist|kannst|willst|musst"
    r"|darfst|sollst|möchtest|wirst|weißt|meinst)\b",
    re.IGNORECASE,
)
ADJECTIVE = r"[a-zäöüß]+(?:e|er|en|es|em)"
INFORMAL_IHR = re.compile(rf"\bihr\b(?!(?:\s+{ADJECTIVE})*\s+[A-ZÄÖÜ„])")
CLAUSE_START = r"(?:^|[.!?:;]\s+|\(\s*)(?:(?i:bitte)\s+)?"
REGULAR_STEMS = (
    "sag|geb|schreib|frag|versuch|nenn|prüf|setz|leg|les|seh|wähl|entfern|erneuer|lehn|tipp"
    "|klick|öffn|meld|aktualisier|verlang|schick|zeig|prob"
)
INFORMAL_IMPERATIVE = re.compile(
    rf"{CLAUSE_START}((?:{REGULAR_STEMS})(?:e|t|et)?|gib|lies|sieh)\b(?!(?-i:\s+Sie\b))",
    re.IGNORECASE,
)
LOWERCASE_SIE = re.compile(rf"{CLAUSE_START}((?i:[a-zäöüß]+en)\s+sie)\b")
SENTENCE_START_IHR = re.compile(r"(?:^|[.!?:]\s+)Ihr\w*")
REVIEWED_SENTENCE_START_IHR = {"policy.approvals_below"}


def prose(message: str) -> str:
    """The words of a catalog message: arguments as a stand-in word, every branch of a plural or
    select kept, the ICU syntax around them dropped."""
    text = re.sub(r"\{\s*\w+\s*\}", "X", message)
    text = re.sub(r"\{\s*\w+\s*,\s*(?:plural|select)\s*,", " ", text)
    text = re.sub(r"(?:=\d+|\w+)\s*\{", " ", text)
    return text.replace("}", " ").replace("#", "1")


def informal(key: str, message: str) -> list[str]:
    """Where ``message`` addresses someone informally, or opens a sentence with an unreviewed
    "Ihr"."""
    text = prose(message)
    found = [m.group(0) for m in ONLY_INFORMAL.finditer(text)]
    found += [m.group(0) for m in INFORMAL_IHR.finditer(text)]
    found += [m.group(1) for m in INFORMAL_IMPERATIVE.finditer(text)]
    found += [m.group(1) for m in LOWERCASE_SIE.finditer(text)]
    if key not in REVIEWED_SENTENCE_START_IHR:
        found += [m.group(0).strip() for m in SENTENCE_START_IHR.finditer(text)]
    return found


def avoided_terms() -> dict[str, str]:
    """The glossary's words not to use, each with the German term to use instead."""
    avoided = {}
    for line in GLOSSARY.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[0] in ("English", "---"):
            continue
        for term in filter(None, (word.strip() for word in cells[2].split(","))):
            avoided[term] = cells[1]
    return avoided


@pytest.mark.parametrize("key", sorted(GERMAN))
def test_every_german_message_says_sie(key):
    assert informal(key, GERMAN[key]) == []


@pytest.mark.parametrize(
    "message",
    [
        "Schreibt „hilfe“ für alle Befehle.",
        "Den Befehl kenne ich nicht. Meintet ihr „abonnieren“?",
        "Fragt eine:n von ihnen oder eure Bot-Administration.",
        "Gebt entweder einen Arbeitsbereich oder eine Registrierung an.",
        "Die zuletzt empfangene wird genommen, außer ihr nennt eine.",
        "Sag mir, welches Modell.",
        "Hast du das gesehen?",
        "Diese Version wartet schon; gebt sie auf dieser Karte frei.",
        "Die Karte ist da. Ihre Karte kommt in jede Unterhaltung.",
        "Bitte {count, plural, one {versucht es} other {versucht es # Mal}} noch einmal.",
        "Das hat nicht geklappt. Versuchen sie es noch einmal.",
        "Bitte geben sie einen Grund an.",
    ],
)
def test_the_informal_address_is_found(message):
    assert informal("a.key", message) != []


@pytest.mark.parametrize(
    "message",
    [
        "Schreiben Sie „hilfe“ für alle Befehle.",
        "Den Befehl kenne ich nicht. Meinten Sie „abonnieren“?",
        "Fragen Sie eine dieser Personen oder Ihre Bot-Administration.",
        "Geben Sie seine Nummer an.",
        "Die Modellversionen mit ihren Genehmigungen und ihrem Ablauf.",
        "Die Version und ihr Ablauf.",
        "Die Version und ihr neuer Ablauf.",
        "Wartet auf Genehmigung",
        "Welche Version soll bereitgestellt werden? Geben Sie sie an.",
        "Der Bot darf das nicht; prüfen Sie seine Berechtigungen.",
    ],
)
def test_the_formal_address_and_third_persons_pass(message):
    assert informal("a.key", message) == []


def test_a_reviewed_sentence_start_ihr_is_the_formal_possessive():
    for key in REVIEWED_SENTENCE_START_IHR:
        assert SENTENCE_START_IHR.search(prose(GERMAN[key])), key


def test_the_glossary_names_the_terms_to_avoid():
    avoided = avoided_terms()

    assert avoided["Workspace"] == "Arbeitsbereich"
    assert avoided["Registry"] == "Registrierung"
    assert avoided["Freigabe"] == "Genehmigung"


@pytest.mark.parametrize("key", sorted(GERMAN))
def test_every_german_message_uses_the_glossarys_terms(key):
    text = prose(GERMAN[key])
    found = [
        f"{term} (use {instead})"
        for term, instead in avoided_terms().items()
        if re.search(rf"(?<!\w){re.escape(term)}(?!=)", text)
    ]
    assert found == []


def test_option_keywords_are_not_prose():
    assert re.search(r"(?<!\w)workspace(?!=)", prose(GERMAN["example.subscribe_workspace"])) is None
