"""The config keys are defined once, in settings.py: the config table of docs/configuration.md
and meltano.yml's settings must say exactly what it says, and the README's Meltano block must be
a verbatim part of meltano.yml (so that it shows the extractor that declares those settings)."""
import re
from pathlib import Path

from tap_helpscout import settings

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
CONFIG_DOC = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
MELTANO_YML = (ROOT / "meltano.yml").read_text(encoding="utf-8")


def documented_config_table():
    match = re.search(r"^\| key \| required \| default \| meaning \|\n(?:\|.*\|\n)+", CONFIG_DOC, re.M)
    assert match, "docs/configuration.md has no config table"
    return match.group(0)


def readme_meltano_block():
    """The yaml block of the README's "Running under Meltano" section."""
    section = README.split("## Running under Meltano", 1)[1].split("\n## ", 1)[0]
    shown = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert shown, "the README's Meltano section has no yaml block"
    return shown.group(1)


def meltano_settings(text):
    """The extractor's `settings` entries of a meltano.yml, as dicts (Meltano's default kind is
    string). The file writes them as one-line flow mappings: `- {name: x, kind: y}`."""
    block = re.search(r"^    settings:\n((?:    - \{.*\}\n)+)", text, re.M)
    assert block, "no settings list in meltano.yml"
    entries = []
    for line in block.group(1).splitlines():
        fields = dict(part.split(": ", 1) for part in line.strip()[3:-1].split(", "))
        entry = {"name": fields.pop("name"), "kind": fields.pop("kind", "string")}
        if fields.pop("sensitive", "false") == "true":
            entry["sensitive"] = True
        assert not fields, f"unexpected fields in {line!r}"
        entries.append(entry)
    return entries


def test_the_config_table_in_the_docs_is_the_one_settings_py_prints():
    assert documented_config_table() == settings.markdown_table()


def test_the_readme_points_to_the_config_table():
    assert "](docs/configuration.md)" in README


def test_meltano_yml_declares_every_setting_with_its_kind_and_sensitivity():
    assert meltano_settings(MELTANO_YML) == settings.meltano_settings()


def test_the_readmes_meltano_block_is_the_extractor_of_meltano_yml_that_declares_the_settings():
    # The README shows the start of the extractor's entry; meltano.yml holds it verbatim, and the
    # settings list that follows it there is settings.py's.
    block = readme_meltano_block()
    assert "- name: tap-helpscout\n" in block and "pip_url:" in block
    assert block in MELTANO_YML, "the README's Meltano block is not a verbatim part of meltano.yml"
    entry = MELTANO_YML[MELTANO_YML.index(block):].split("\n  - name: ", 1)[0]
    assert meltano_settings(entry) == settings.meltano_settings()


def test_secrets_are_sensitive_in_meltano():
    sensitive = {e["name"] for e in settings.meltano_settings() if e.get("sensitive")}
    assert sensitive == set(settings.SECRET_KEYS) == {"client_secret", "refresh_token", "access_token",
                                                      "docs_api_key"}


def test_every_default_is_of_its_kind_and_every_row_has_a_meaning():
    for setting in settings.SETTINGS.values():
        assert setting.meaning and "\n" not in setting.meaning and "|" not in setting.meaning
        if setting.default is None:
            continue
        expected = {settings.INTEGER: int, settings.SECONDS: float, settings.BOOLEAN: bool}.get(setting.kind, str)
        assert type(setting.default) is expected, setting.name
        if setting.kind == settings.INTEGER:
            assert setting.minimum <= setting.default <= (setting.maximum or setting.default)


def test_loopback_hosts():
    assert all(settings.is_loopback(h) for h in ("localhost", "LOCALHOST", "127.0.0.1", "127.9.9.9", "::1", "[::1]"))
    assert not any(settings.is_loopback(h) for h in ("10.0.0.5", "api.helpscout.net", "localhost.example.com",
                                                     "0.0.0.0", "", None))
