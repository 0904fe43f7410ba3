"""A Help Scout Mailbox API 2.0 emulator for tests, benchmarks and `make demo`.

    from tests.emulator import Emulator
    with Emulator(seed=1, conversations=200) as emu:
        emu.base_url        # "http://127.0.0.1:<port>/v2"; token endpoint: base_url + "/oauth2/token"
        emu.client_id, emu.client_secret, emu.refresh_token
        emu.data            # the dataset, current state (see dataset.py)
        emu.requests        # the request log (LoggedRequest)
        emu.docs_base_url, emu.docs_api_key, emu.docs    # the Docs API v1, under /docs-api/v1

Behaviour follows Help Scout's public API documentation and the other public sources listed in
docs/sources.md; where they leave a point unconfirmed, the emulator takes the stricter reading
and says so in a comment next to the code. The full
interface, options, fault kinds, drift and the list of choices are in README.md beside this file.
Standard library only.
"""
from .dataset import Dataset
from .generate import generate
from .report_series import report_periods, report_points
from .server import Drift, Emulator, LoggedRequest

__all__ = ["Emulator", "Drift", "Dataset", "LoggedRequest", "generate", "report_periods", "report_points"]
