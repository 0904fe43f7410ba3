"""Helpers of the end-to-end tests: one virtual environment per tool, and a throwaway PostgreSQL
server.

Tool venvs live in `.venvs/<name>` at the repository root (git-ignored). Each is created once per
machine and reused while its stamp file still names the same interpreter and pinned packages, so
only the first run pays for the installs.
"""
import fcntl
import glob
import hashlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VENVS = REPO / ".venvs"
INSTALL_TIMEOUT = 1200   # seconds for one venv's pip install (Meltano is ~160 MB)

# What a Meltano project of the tap is made of: its meltano.yml and the package that
# `pip_url: -e .` installs. Copying only these keeps venvs, caches and outputs of the checkout out.
MELTANO_PROJECT_FILES = ("meltano.yml", "setup.py", "pyproject.toml", "README.md", "LICENSE", "tap_helpscout")


def copy_meltano_project(destination):
    """The repository's Meltano project, copied into the existing folder `destination`."""
    for name in MELTANO_PROJECT_FILES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, destination / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO / name, destination / name)


# The tools under test, pinned: a new release must not change what a green suite means.
SINGER_TOOLS = "singer-tools==0.4.1"
TARGET_JSONL = "target-jsonl==0.1.4"
MELTANOLABS_TARGET_POSTGRES = "meltanolabs-target-postgres==0.8.1"
PIPELINEWISE_TARGET_POSTGRES = "pipelinewise-target-postgres==2.1.2"
MELTANO = "meltano==4.4.1"


# ---------------------------------------------------------------------------------------------
# Tool virtual environments
# ---------------------------------------------------------------------------------------------

@contextmanager
def _locked(path):
    """An exclusive lock on `path`: two pytest runs sharing the work tree must not build the
    same venv at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _interpreter_identity(python):
    """Version and installation of `python`: the same interpreter may be reached by several
    paths (python, python3, a venv's link to it), and all must reuse the same tool venvs."""
    return subprocess.run([python, "-c", "import sys; print(sys.version.split()[0], sys.base_prefix)"],
                          capture_output=True, text=True, check=True).stdout.strip()


def tool_venv(name, *requirements, python=None, fingerprint=""):
    """The bin directory of `.venvs/<name>`, a venv of `python` (default: the interpreter running
    the tests) with `requirements` pip-installed (pinned specs, or pip arguments such as
    `-e /path[extra]`). An existing venv is reused when its stamp matches; `fingerprint` adds
    anything else that should force a reinstall when it changes (e.g. a hash of setup.py)."""
    python = str(python or sys.executable)
    venv = VENVS / name
    bindir = venv / "bin"
    stamp = venv / ".tool-stamp"
    wanted = "\n".join([f"python {_interpreter_identity(python)}", *requirements,
                        f"fingerprint {fingerprint}"]) + "\n"
    with _locked(VENVS / f".{name}.lock"):
        if stamp.exists() and stamp.read_text() == wanted and (bindir / "python").exists():
            return bindir
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([python, "-m", "venv", str(venv)], check=True, timeout=300)
        proc = subprocess.run(
            [str(bindir / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "--no-input", *requirements],
            capture_output=True, text=True, timeout=INSTALL_TIMEOUT, cwd=REPO)
        if proc.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            raise RuntimeError(f"pip install {' '.join(requirements)} into .venvs/{name} failed:\n"
                               f"{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
        stamp.write_text(wanted)
    return bindir


def file_digest(*paths):
    digest = hashlib.sha256()
    for path in paths:
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()[:16]


def tap_bin_dir():
    """The directory holding the `tap-helpscout` console script of the venv running the tests,
    the executable a user pipes into a target."""
    bindir = Path(sys.executable).parent
    if not (bindir / "tap-helpscout").exists():
        raise RuntimeError(f"no tap-helpscout executable beside {sys.executable}: install the package "
                           "(make test does: pip install -e '.[test]')")
    return bindir


# ---------------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------------

def find_pg_binary(name):
    """`initdb`, `pg_ctl` or `psql`: on PATH, or in Debian's /usr/lib/postgresql/<version>/bin
    (the postgresql package puts the server binaries only there), newest version first."""
    found = shutil.which(name)
    if found:
        return found
    candidates = glob.glob(f"/usr/lib/postgresql/*/bin/{name}")
    candidates.sort(key=lambda p: [int(n) for n in re.findall(r"\d+", p.split("/")[3])], reverse=True)
    if candidates:
        return candidates[0]
    raise FileNotFoundError(f"{name} not found on PATH nor in /usr/lib/postgresql/*/bin: "
                            "install the PostgreSQL server (make deps does it on Debian)")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_account():
    """The unprivileged account to run the server as: the server binaries refuse to run as root.
    When the tests run as root, use `postgres` (created by Debian's package) or create
    `tap_tests`; otherwise the current user will do."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid())
    for name in ("postgres", "tap_tests"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            pass
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "tap_tests"],
                   check=True, capture_output=True)
    return pwd.getpwnam("tap_tests")


class PostgresServer:
    """A PostgreSQL server of its own in a temporary folder, on a free loopback port, with a
    password-authenticated superuser; `stop()` removes everything."""

    user = "tap_tests"
    password = "tap-tests-password"
    host = "127.0.0.1"

    def __init__(self):
        self.initdb = find_pg_binary("initdb")
        self.pg_ctl = str(Path(self.initdb).with_name("pg_ctl"))
        psql_beside = Path(self.initdb).with_name("psql")
        self.psql = str(psql_beside) if psql_beside.exists() else find_pg_binary("psql")
        self.port = None
        self.directory = None

    def _as_server_account(self, argv, **kwargs):
        account = _server_account()
        if os.geteuid() == 0:
            kwargs.update(user=account.pw_uid, group=account.pw_gid, extra_groups=[])
        env = {"PATH": os.environ.get("PATH", ""), "HOME": self.directory, "LC_ALL": "C"}
        return subprocess.run(argv, env=env, cwd=self.directory, capture_output=True, text=True,
                               timeout=120, **kwargs)

    def start(self):
        self.directory = tempfile.mkdtemp(prefix="tap-helpscout-pg-")
        account = _server_account()
        os.chown(self.directory, account.pw_uid, account.pw_gid)
        data = os.path.join(self.directory, "data")
        pwfile = os.path.join(self.directory, "pwfile")
        with open(pwfile, "w") as handle:
            handle.write(self.password + "\n")
        os.chown(pwfile, account.pw_uid, account.pw_gid)
        self._checked(self._as_server_account(
            [self.initdb, "-D", data, "-U", self.user, f"--pwfile={pwfile}", "--auth-local=trust",
             "--auth-host=scram-sha-256", "--encoding=UTF8", "--no-locale", "--no-sync"]), "initdb")
        self.port = free_port()
        # Durability is pointless for a throwaway server; the socket goes in our own folder,
        # since /var/run/postgresql may not exist or not be writable.
        options = (f"-p {self.port} -c listen_addresses={self.host} -k {self.directory} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        self._checked(self._as_server_account(
            [self.pg_ctl, "-D", data, "-o", options, "-l", os.path.join(self.directory, "server.log"),
             "-w", "-t", "60", "start"]), "pg_ctl start")
        return self

    def stop(self):
        if self.directory is None:
            return
        try:
            self._as_server_account([self.pg_ctl, "-D", os.path.join(self.directory, "data"),
                                     "-m", "fast", "-w", "stop"])
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def _checked(self, proc, what):
        if proc.returncode != 0:
            log = Path(self.directory, "server.log")
            tail = log.read_text()[-3000:] if log.exists() else ""
            raise RuntimeError(f"{what} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}\n{tail}")
        return proc

    def query(self, sql, database="postgres"):
        """Rows of `sql` as lists of strings (NULL as None), through psql over TCP."""
        proc = subprocess.run(
            [self.psql, "-X", "-q", "-A", "-t", "-F", "\x1f", "-R", "\x1e", "-P", "null=\\N",
             "-v", "ON_ERROR_STOP=1", "-h", self.host, "-p", str(self.port), "-U", self.user,
             "-d", database, "-c", sql],
            capture_output=True, text=True, timeout=120,
            env={**os.environ, "PGPASSWORD": self.password, "PGCONNECT_TIMEOUT": "10"})
        if proc.returncode != 0:
            raise RuntimeError(f"psql failed: {proc.stderr.strip()}\n{sql}")
        text = proc.stdout.rstrip("\n")
        if not text:
            return []
        return [[None if value == "\\N" else value for value in row.split("\x1f")]
                for row in text.rstrip("\x1e").split("\x1e")]

    def create_database(self, name):
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
            raise ValueError(f"unsafe database name {name!r}")
        self.query(f"CREATE DATABASE {name}")
        return name

    def wait_until_ready(self, seconds=30):
        deadline = time.monotonic() + seconds
        while True:
            try:
                return self.query("SELECT 1")
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


# ---------------------------------------------------------------------------------------------
# tap | target
# ---------------------------------------------------------------------------------------------

@dataclass
class PipelineRun:
    tap_returncode: int
    tap_stderr: str
    target_returncode: int
    target_stdout: str
    target_stderr: str

    def check(self):
        assert self.tap_returncode == 0, f"tap exited {self.tap_returncode}:\n{self.tap_stderr[-3000:]}"
        assert self.target_returncode == 0, \
            f"target exited {self.target_returncode}:\n{self.target_stderr[-5000:]}"
        return self


def run_pipeline(tap_argv, target_argv, cwd, timeout=600, env=None):
    """`tap | target`, as a shell pipeline would run them: the target reads the tap's stdout;
    each one's stderr is kept apart."""
    with tempfile.TemporaryFile("w+") as tap_err, tempfile.TemporaryFile("w+") as target_err:
        tap = subprocess.Popen([str(a) for a in tap_argv], stdout=subprocess.PIPE, stderr=tap_err,
                               cwd=cwd, env=env)
        target = subprocess.Popen([str(a) for a in target_argv], stdin=tap.stdout, stdout=subprocess.PIPE,
                                  stderr=target_err, cwd=cwd, env=env, text=True)
        tap.stdout.close()   # the target alone holds the pipe: it sees EOF when the tap ends
        try:
            target_out, _ = target.communicate(timeout=timeout)
            tap.wait(timeout=timeout)
        finally:
            for proc in (tap, target):
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        tap_err.seek(0)
        target_err.seek(0)
        return PipelineRun(tap.returncode, tap_err.read(), target.returncode, target_out, target_err.read())
