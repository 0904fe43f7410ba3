"""`--about` in process (tap_helpscout/cli/about.py, cli/main.py): the Meltano SDK's shape of
`--about --format json` made from settings.py's table, the readable text and Markdown, no config
needed, and `--config` still required by every other mode."""
import itertools
import json
import re
from pathlib import Path

import pytest

from tap_helpscout import settings
from tap_helpscout.cli import about
from tap_helpscout.cli import main as cli
from tap_helpscout.config import validate_config
from tap_helpscout.errors import ConfigError
from tap_helpscout.version import VERSION

ROOT = Path(__file__).resolve().parents[2]
# The keys of the SDK's JSONFormatter (singer_sdk/about.py), in its order, without
# `sdk_version`: the tap is not built on the SDK and claims no version of it.
SDK_KEYS = ["name", "description", "version", "supported_python_versions", "capabilities", "settings"]
JSON_SCHEMA_TYPES = {"string", "number", "integer", "boolean", "object", "array", "null"}


def run_main(capsys, *argv):
    """(exit code, stdout, stderr) of the command line run in process."""
    with pytest.raises(SystemExit) as ended:
        cli.main(list(argv))
    out, err = capsys.readouterr()
    return ended.value.code, out, err


def about_json(capsys, *extra):
    code, out, err = run_main(capsys, "--about", "--format", "json", *extra)
    assert code == 0, err
    return json.loads(out)


def test_the_json_has_the_sdks_keys_and_no_sdk_version(capsys):
    info = about_json(capsys)
    assert list(info) == SDK_KEYS
    assert info["name"] == "tap-helpscout" and info["version"] == VERSION
    assert info["description"].startswith("Singer tap for the Help Scout Mailbox API 2.0")
    assert info["capabilities"] == ["catalog", "discover", "state", "about"]
    assert info["supported_python_versions"] == ["3.9", "3.10", "3.11", "3.12", "3.13"]


def test_the_supported_pythons_start_where_setup_py_does():
    minimum = re.search(r'python_requires=">=(3\.\d+)"', (ROOT / "setup.py").read_text()).group(1)
    assert about.SUPPORTED_PYTHON_VERSIONS[0] == minimum


def test_every_setting_is_a_json_schema_property_with_type_default_and_description(capsys):
    schema = about_json(capsys)["settings"]
    assert schema["type"] == "object"
    assert list(schema["properties"]) == list(settings.SETTINGS)
    for name, setting in settings.SETTINGS.items():
        prop = schema["properties"][name]
        types = prop["type"]
        assert set(types) <= JSON_SCHEMA_TYPES and "null" in types and len(types) == 2, name
        assert prop["description"] == setting.meaning, name
        if setting.default is None:
            assert "default" not in prop, name
        else:
            assert prop["default"] == setting.default and type(prop["default"]) is type(setting.default), name
        if setting.kind == settings.INTEGER:
            assert types[0] == "integer" and prop["minimum"] == setting.minimum, name
            assert prop.get("maximum") == setting.maximum, name
    props = schema["properties"]
    assert props["start_date"]["format"] == "date-time" and props["base_url"]["format"] == "uri"
    assert props["request_timeout"]["type"][0] == "number" and props["request_timeout"]["exclusiveMinimum"] == 0
    assert props["max_run_minutes"]["type"][0] == "number"      # fractions of a minute too
    assert props["fetch_saved_reply_text"]["type"][0] == "boolean"
    assert props["max_parallel_requests"]["maximum"] == 16 and props["max_parallel_requests"]["default"] == 4
    # Unknown keys are warned about, not refused: the schema must not forbid them.
    assert schema.get("additionalProperties", True) is not False


def test_secrets_are_marked_as_the_sdk_marks_them_and_nothing_else_is(capsys):
    props = about_json(capsys)["settings"]["properties"]
    marked = {name for name, prop in props.items() if prop.get("secret") is True and prop.get("writeOnly") is True}
    assert marked == set(settings.SECRET_KEYS) == {"client_secret", "refresh_token", "access_token", "docs_api_key"}
    assert not [name for name, prop in props.items() if name not in marked and ("secret" in prop or "writeOnly" in prop)]


def test_the_credential_rules_of_the_schema_are_the_ones_the_config_enforces():
    """For every combination of the four credentials, the schema's anyOf/dependentRequired
    accept exactly the configs that config.py accepts."""
    schema = settings.json_schema()
    keys = ("client_id", "client_secret", "refresh_token", "access_token", "docs_api_key")
    for given in itertools.chain.from_iterable(itertools.combinations(keys, n) for n in range(6)):
        by_schema = (all(set(needed) <= set(given) for key, needed in schema["dependentRequired"].items()
                         if key in given)
                     and any(set(option["required"]) <= set(given) for option in schema["anyOf"]))
        try:
            validate_config({key: "x" for key in given})
            by_config = True
        except ConfigError:
            by_config = False
        assert by_schema == by_config, given


def test_the_json_schema_prints_from_the_settings_module(capsys):
    settings.main(["--json-schema"])
    assert json.loads(capsys.readouterr().out) == settings.json_schema()


def test_the_text_is_readable_and_names_every_setting(capsys):
    code, out, err = run_main(capsys, "--about")
    assert code == 0 and err == ""
    assert out.startswith("Name: tap-helpscout\nDescription: Singer tap for the Help Scout Mailbox API 2.0")
    assert f"\nVersion: {VERSION}\n" in out and "\nCapabilities:\n  - catalog\n" in out
    assert "{" not in out and "sdk" not in out.lower()
    assert all(len(line) <= 110 for line in out.splitlines() if not line.startswith("Description:"))
    for name, setting in settings.SETTINGS.items():
        block = out.split(f"  - Name: {name}\n", 1)[1].split("  - Name: ", 1)[0]
        assert f"Environment Variable: TAP_HELPSCOUT_{name.upper()}\n" in block, name
        assert ("Secret: yes" in block) == setting.secret, name
        assert " ".join(block.split()).count(" ".join(setting.meaning.split())) == 1, name
    assert "    Default: 4\n" in out.split("Name: max_parallel_requests")[1].split("- Name:")[0]
    assert "    Default: one year before the first run\n" in out
    assert "    Type: string (date-time)\n" in out


def test_the_markdown_has_a_row_per_setting(capsys):
    code, out, _ = run_main(capsys, "--about", "--format", "markdown")
    assert code == 0 and out.startswith("# `tap-helpscout`\n")
    rows = [line for line in out.splitlines() if line.startswith("| ") and not line.startswith("| Setting")]
    assert [row.split(" | ")[0][2:] for row in rows] == list(settings.SETTINGS)
    assert all(row.endswith("(secret) |") == settings.SETTINGS[row.split(" | ")[0][2:]].secret for row in rows)


def test_about_needs_no_config_and_does_not_read_one(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                 # no config.json anywhere near
    assert about_json(capsys) == about.about_info()
    # Meltano passes --config with every command: a config that is not there is not read.
    assert about_json(capsys, "--config", str(tmp_path / "missing.json")) == about.about_info()
    code, out, _ = run_main(capsys, "--config", str(tmp_path / "missing.json"), "--about")
    assert code == 0 and out.startswith("Name: tap-helpscout\n")


@pytest.mark.parametrize("argv", [[], ["--discover"], ["--check"], ["--authorize"], ["--catalog", "c.json"]])
def test_every_other_mode_still_requires_config(capsys, argv):
    code, out, err = run_main(capsys, *argv)
    assert code == 2 and out == ""
    assert err.strip().splitlines()[-1] == "tap-helpscout: error: the following arguments are required: -c/--config"


@pytest.mark.parametrize("argv, message", [
    (["--config", "c.json", "--format", "json"], "--format goes with --about"),
    (["--format", "json"], "the following arguments are required: -c/--config"),
    (["--about", "--format", "yaml"], "argument --format: invalid choice: 'yaml'"),
    (["--about", "--discover"], "argument -d/--discover: not allowed with argument --about"),
])
def test_wrong_about_arguments_are_refused(capsys, argv, message):
    code, _, err = run_main(capsys, *argv)
    assert code == 2 and message in err


def test_meltano_yml_declares_the_capabilities_about_prints():
    text = (ROOT / "meltano.yml").read_text()
    entry = text[text.index("  - name: tap-helpscout\n"):]
    declared = re.search(r"^    capabilities: \[(.*)\]$", entry, re.M).group(1).split(", ")
    assert declared == list(about.CAPABILITIES)
