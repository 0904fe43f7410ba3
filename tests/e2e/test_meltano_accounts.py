"""Several Help Scout accounts in one Meltano project, as the README's "Several Help Scout
accounts" writes it: its inherited extractors are added to a temporary copy of this repository's
meltano.yml, each account's app goes in the project's `.env` under the extractor's name, and the
README's commands run: `meltano invoke tap-helpscout-acme --authorize` (the tokens go to that
extractor's own token store, and the closing line names `meltano invoke tap-helpscout-acme
--check`), `meltano invoke ... --check`, and `meltano run tap-helpscout-acme target-jsonl
tap-helpscout-globex target-jsonl`, twice.

Two emulators stand for the two accounts. Each account's rows land in its own folder; each token
store rotates its own refresh token (acme's from --authorize, globex's from the refresh token in
`.env`); Meltano keeps one state per extractor, and the second run of each reads only what
changed in its own account. Then the project's target-postgres (its connection in `.env`) loads
an account into the schema named after its extractor. No secret appears in Meltano's output.
"""
import json
import os
import re
import stat
import subprocess

import pytest
import requests

from tests.e2e.tools import MELTANO, REPO, copy_meltano_project, tool_venv
from tests.support.expected import expected_row_counts, expected_rows

pytestmark = pytest.mark.e2e

START = "2019-01-01T00:00:00Z"
ACCOUNTS = ("acme", "globex")          # the README's extractors: tap-helpscout-<account>
URL = re.compile(r"(http://\S+authorizeClientApplication\S+)")


def readme_accounts():
    """(yaml block, commands) of the README's "Several Help Scout accounts" section."""
    text = (REPO / "README.md").read_text()
    start = text.index("### Several Help Scout accounts")
    section = text[start:text.index("\n## ", start)]
    [yaml] = re.findall(r"```yaml\n(.*?)```", section, re.S)
    [commands] = re.findall(r"```sh\n(.*?)```", section, re.S)
    return yaml, [line.split("#")[0].split() for line in commands.splitlines() if line.strip()]


class Project:
    """A temporary Meltano project: this repository's meltano.yml with the README's extractors."""

    def __init__(self, path, dotenv, emus):
        self.path = path
        self.emus = emus
        self.meltano = tool_venv("meltano", MELTANO) / "meltano"
        path.mkdir()
        copy_meltano_project(path)
        yaml, self.commands = readme_accounts()
        text = (path / "meltano.yml").read_text()
        assert text.count("\n  loaders:\n") == 1
        (path / "meltano.yml").write_text(text.replace("\n  loaders:\n", "\n" + yaml + "  loaders:\n"))
        (path / ".env").write_text("".join(f"{key}={value}\n" for key, value in dotenv.items()))
        self.env = {key: value for key, value in os.environ.items()
                    if not key.startswith(("TAP_HELPSCOUT", "TARGET_", "MELTANO_")) and key != "VIRTUAL_ENV"}
        self.env["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"
        self.secrets = {value for key, value in dotenv.items() if key.endswith(("_SECRET", "_TOKEN"))}

    def argv(self, args):
        return [str(self.meltano), *args[1:]] if args[0] == "meltano" else args

    def check_output(self, proc, args, stdout, stderr):
        assert proc.returncode == 0, f"{' '.join(args)} exited {proc.returncode}:\n{stdout[-3000:]}\n{stderr[-6000:]}"
        # The refresh tokens rotated so far are secrets too (the emulator knows the newest).
        for secret in self.secrets | {emu.refresh_token for emu in self.emus}:
            assert secret not in stdout + stderr, f"a secret reached the output of {' '.join(args)}"

    def run(self, *args, timeout=600):
        proc = subprocess.run(self.argv(args), cwd=self.path, env=self.env, capture_output=True, text=True,
                              timeout=timeout)
        self.check_output(proc, args, proc.stdout, proc.stderr)
        return proc

    def authorize(self, args):
        """`meltano invoke <extractor> --authorize --no-browser`, the test in the browser's place:
        it opens the printed address, and pastes the address the emulator's page redirects to."""
        proc = subprocess.Popen(self.argv(args + ["--no-browser"]), cwd=self.path, env=self.env, text=True,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        lines, url = [], None
        try:
            for line in proc.stderr:
                lines.append(line)
                url = url or (URL.search(line).group(1) if URL.search(line) else None)
                if "Paste the address" in line:
                    landed = requests.get(url, allow_redirects=False, timeout=30).headers["Location"]
                    self.secrets.add(re.search(r"code=(\w+)", landed).group(1))
                    proc.stdin.write(landed + "\n")
                    proc.stdin.close()
            stdout = proc.stdout.read()
            proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.check_output(proc, args, stdout, "".join(lines))
        return "".join(lines)

    def store(self, account):
        return self.path / ".meltano" / f"tap-helpscout-{account}-token.json"

    def rows(self, account, stream):
        path = self.path / "output" / f"tap-helpscout-{account}" / f"{stream}.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_two_accounts_in_one_project_each_with_its_tokens_rows_and_state(make_emulator, postgres, tmp_path):
    emus = {"acme": make_emulator(seed=21, conversations=40, customers=30, ratings=10),
            "globex": make_emulator(seed=22, conversations=30, customers=40, ratings=10)}
    dotenv = {"TAP_HELPSCOUT_START_DATE": START}        # for every account, inherited
    for account, emu in emus.items():
        prefix = f"TAP_HELPSCOUT_{account.upper()}_"
        dotenv.update({prefix + "CLIENT_ID": emu.client_id, prefix + "CLIENT_SECRET": emu.client_secret,
                       prefix + "BASE_URL": emu.base_url, prefix + "AUTHORIZE_URL": emu.authorize_url})
    # globex's refresh token is given in .env; acme's comes from --authorize.
    given_refresh = emus["globex"].refresh_token
    dotenv["TAP_HELPSCOUT_GLOBEX_REFRESH_TOKEN"] = given_refresh
    project = Project(tmp_path / "project", dotenv, list(emus.values()))
    assert ".env" in (REPO / ".gitignore").read_text().splitlines(), "the secrets' .env stays out of git"
    assert [c[:3] for c in project.commands] == [["meltano", "invoke", "tap-helpscout-acme"],
                                                 ["meltano", "run", "tap-helpscout-acme"]]
    authorize, run = project.commands
    project.run("meltano", "install")

    said = project.authorize(authorize)
    assert said.strip().splitlines()[-1].endswith("Next: meltano invoke tap-helpscout-acme --check")
    assert f"Tokens stored in {project.store('acme')}." in said and ".meltano/run/" not in said
    assert json.loads(project.store("acme").read_text())["refresh_token"] == emus["acme"].refresh_token
    assert stat.S_IMODE(project.store("acme").stat().st_mode) == 0o600
    checked = project.run("meltano", "invoke", "tap-helpscout-acme", "--check")
    assert "OK: a sync can run" in checked.stdout

    project.run(*run)
    for account, emu in emus.items():
        for stream, count in expected_row_counts(emu.data, START).items():
            assert len(project.rows(account, stream)) == count, (account, stream)
        assert {r["id"] for r in project.rows(account, "conversations")} == {c["id"] for c in emu.data.conversations}
    stored = {account: json.loads(project.store(account).read_text())["refresh_token"] for account in ACCOUNTS}
    assert stored["globex"] == emus["globex"].refresh_token != given_refresh, "globex's token rotated into its store"
    assert stored["acme"] == emus["acme"].refresh_token
    states = project.run("meltano", "state", "list").stdout.split()
    assert {f"dev:tap-helpscout-{account}-to-target-jsonl" for account in ACCOUNTS} <= set(states)

    # One change in each account; the tokens expire, so both refresh tokens rotate again.
    changed = {"acme": ("conversations", emus["acme"].data.conversations[2]["id"]),
               "globex": ("customers", emus["globex"].data.customers[3]["id"])}
    emus["acme"].modify_conversation(changed["acme"][1])
    emus["globex"].modify_customer(changed["globex"][1])
    before = {(account, stream): len(project.rows(account, stream))
              for account in ACCOUNTS for stream in ("conversations", "customers")}
    for emu in emus.values():
        emu.expire_access_tokens()
    project.run(*run)
    for account in ACCOUNTS:
        stream, row_id = changed[account]
        other = "customers" if stream == "conversations" else "conversations"
        assert [r["id"] for r in project.rows(account, stream)[before[account, stream]:]] == [row_id], account
        assert len(project.rows(account, other)) == before[account, other], account
        rotated = json.loads(project.store(account).read_text())["refresh_token"]
        assert rotated == emus[account].refresh_token != stored[account], account

    # The project's PostgreSQL loader, its connection from .env: the schema is named after the
    # extractor (one account is enough to show it, and target-postgres starts slowly).
    database = postgres.create_database("meltano_accounts")
    with open(project.path / ".env", "a") as dotenv_file:
        dotenv_file.write(f"TARGET_POSTGRES_HOST={postgres.host}\nTARGET_POSTGRES_PORT={postgres.port}\n"
                          f"TARGET_POSTGRES_USER={postgres.user}\nTARGET_POSTGRES_PASSWORD={postgres.password}\n"
                          f"TARGET_POSTGRES_DATABASE={database}\n")
    project.secrets.add(postgres.password)
    project.run("meltano", "run", "tap-helpscout-globex", "target-postgres")
    schemas = {name for [name] in postgres.query(
        "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'tap_helpscout%'", database)}
    assert schemas == {"tap_helpscout_globex"}
    # The target upserts: one row per primary key (two ratings of the report may share one).
    for stream, rows_by_key in expected_rows(emus["globex"].data, START).items():
        [[rows]] = postgres.query(f"SELECT count(*) FROM tap_helpscout_globex.{stream} "
                                  f"WHERE _sdc_deleted_at IS NULL", database)
        assert int(rows) == len(rows_by_key), stream

    # Each account's tokens went to its own emulator only, and none was refused.
    for emu in emus.values():
        grants = [r for r in emu.requests if r.path.endswith("/oauth2/token")]
        assert grants and all(r.status == 200 for r in grants)
