"""`--about`: what the tap is and which settings it takes, as Meltano SDK taps print it, without
a config file.

`--format json` has the shape of the SDK's `--about --format json` (singer_sdk/about.py): name,
description, version, supported_python_versions, capabilities and the settings as a JSON Schema
(settings.json_schema(), from the same table as docs/configuration.md and meltano.yml). There
is no `sdk_version`: the tap is not built on the SDK. The text and Markdown formats follow the
SDK's too, with each setting's default, secrecy and meaning added.
"""
import json
import textwrap

from tap_helpscout.settings import SETTINGS, json_schema
from tap_helpscout.version import PROG, VERSION

FORMATS = ("text", "json", "markdown")
DESCRIPTION = ("Singer tap for the Help Scout Mailbox API 2.0: conversations and their threads, customers, "
               "mailboxes with their custom fields, folders and saved replies, users, teams and team members, "
               "workflows, tags, organizations, customer properties and the happiness ratings report")
# setup.py's python_requires is >=3.9; the suite runs on 3.9 and 3.13 (docs/operations.md).
SUPPORTED_PYTHON_VERSIONS = ("3.9", "3.10", "3.11", "3.12", "3.13")
# The Meltano capabilities, as meltano.yml declares them.
CAPABILITIES = ("catalog", "discover", "state", "about")
# Meltano passes setting NAME of an extractor named tap-helpscout as TAP_HELPSCOUT_NAME.
ENV_PREFIX = "TAP_HELPSCOUT_"


def about_info():
    """The SDK's keys, in its order (without `sdk_version`)."""
    return {"name": PROG, "description": DESCRIPTION, "version": VERSION,
            "supported_python_versions": list(SUPPORTED_PYTHON_VERSIONS),
            "capabilities": list(CAPABILITIES), "settings": json_schema()}


def render(fmt="text"):
    """`--about` in `fmt` (text, json or markdown), ending with a newline."""
    info = about_info()
    if fmt == "json":
        return json.dumps(info, indent=2) + "\n"
    if fmt == "markdown":
        return _markdown(info)
    return _text(info)


def _type(schema):
    kind = next(t for t in schema["type"] if t != "null")
    return f"{kind} ({schema['format']})" if "format" in schema else kind


def _default(name, schema):
    """The default as text: the value, or what the docs say happens without one (start_date)."""
    if "default" not in schema:
        shown = SETTINGS[name].shown_default
        return shown.strip("`") if shown else None
    value = schema["default"]
    if isinstance(value, bool):
        return json.dumps(value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _text(info):
    lines = [f"Name: {info['name']}", f"Description: {info['description']}", f"Version: {info['version']}",
             "Supported Python Versions:", *(f"  - {v}" for v in info["supported_python_versions"]),
             "Capabilities:", *(f"  - {c}" for c in info["capabilities"]),
             "Settings (a JSON config file; under Meltano also the environment variable named):"]
    for name, schema in info["settings"]["properties"].items():
        lines += [f"  - Name: {name}", f"    Type: {_type(schema)}",
                  f"    Environment Variable: {ENV_PREFIX}{name.upper()}"]
        default = _default(name, schema)
        if default is not None:
            lines.append(f"    Default: {default}")
        if schema.get("secret"):
            lines.append("    Secret: yes (never shown in the tap's output)")
        lines += textwrap.wrap(schema["description"], width=96, initial_indent="    Description: ",
                               subsequent_indent="      ", break_on_hyphens=False,
                               break_long_words=False)
    lines.append(f"Every key: docs/configuration.md; `{info['name']} --about --format json` prints this "
                 f"as JSON Schema.")
    return "\n".join(lines) + "\n"


def _markdown(info):
    lines = [f"# `{info['name']}`", "", info["description"], "", "## Capabilities", "",
             *(f"- `{c}`" for c in info["capabilities"]), "", "## Supported Python Versions", "",
             *(f"- {v}" for v in info["supported_python_versions"]), "", "## Settings", "",
             "| Setting | Required | Default | Description |", "|:--------|:--------:|:-------:|:------------|"]
    for name, schema in info["settings"]["properties"].items():
        default = _default(name, schema)
        secret = " (secret)" if schema.get("secret") else ""
        lines.append(f"| {name} | {SETTINGS[name].required} | {'None' if default is None else default} "
                     f"| {schema['description']}{secret} |")
    lines += ["", f"A full list of supported settings and capabilities is available by running: "
                  f"`{info['name']} --about`"]
    return "\n".join(lines) + "\n"
