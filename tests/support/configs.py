"""Config files for the tests that need no emulator: credentials that must never appear in any
output (the tests look for them), and the file that holds them."""
import json

SECRET = "do-not-print-this-secret-1b9f"
REFRESH = "do-not-print-this-refresh-77aa"
GOOD = {"client_id": "app-id-1234", "client_secret": SECRET, "refresh_token": REFRESH,
        "start_date": "2024-01-01T00:00:00Z"}


def without(*keys):
    """GOOD less `keys`."""
    return {k: v for k, v in GOOD.items() if k not in keys}


def config_file(directory, **values):
    """`directory`/config.json holding GOOD with `values` added (a base_url nobody answers on,
    for a mode that must not connect)."""
    path = directory / "config.json"
    path.write_text(json.dumps({**GOOD, **values}, indent=4))
    return path
