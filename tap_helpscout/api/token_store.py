"""Where the rotating refresh token lives (the config file, or `token_store_path`), and how a new
one reaches the disk without ever being lost: before a refresh, the room its storage needs is
taken on the store's disk; after it, the new token is written through `safe_files` (a complete
file renamed over the old one, or the reserved room when the disk is full); and a lock keeps two
runs from spending one token. Why and how: docs/design/tokens.md.
"""
import errno
import fcntl
import hashlib
import json
import os
import time
from contextlib import contextmanager

from tap_helpscout.api.safe_files import (create_private_file, release, reserve, write_file,  # noqa: F401
                                          write_file_atomically, write_file_in_place)
from tap_helpscout.errors import ConfigError, TapError
from tap_helpscout.logs import get_logger

LOGGER = get_logger(__name__)
# How long a run waits for another run's refresh (which takes a request, a second or two; its
# retries are bounded to about two minutes).
LOCK_WAIT_SECONDS = 150.0
LOCK_POLL_SECONDS = 0.05


def update_config_file(path, updates, spare=None):
    """Set the keys in `updates` in the JSON object stored at `path`, keeping every other key,
    the file's permission bits and (when allowed) its owner; `spare`: room reserved for it
    (`safe_files.reserve`). Raises OSError when the file cannot be written, ConfigError when its
    current content is not a JSON object."""
    # Write next to the real file, not next to a symlink pointing at it: replacing the symlink
    # would leave the user's real config file holding the dead token.
    real_path = os.path.realpath(path)
    with open(real_path, encoding="utf-8") as current_file:
        try:
            config = json.load(current_file)
        except ValueError as exc:
            raise ConfigError(f"the config file {path} is not valid JSON, so the new tokens could "
                              f"not be stored in it ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(config, dict):
        raise ConfigError(f"the config file {path} does not hold a JSON object")
    config.update(updates)
    write_file(real_path, json.dumps(config, indent=2) + "\n", spare)


# -- the tokens ----------------------------------------------------------------------------------

def fingerprint(secret):
    """A stable, non-reversible name for a secret, to recognise it without storing it."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest() if secret else None


class TokenStore:
    """The tokens of one config: read from the token store or the config file, written back
    after each rotation.

    With `token_store_path`, the store's refresh token is used when the config holds none, or
    when the store was written for the config's refresh token (its fingerprint is kept in the
    store); a different refresh token in the config is a new authorization, and wins."""

    def __init__(self, config, config_path):
        self.config_path = config_path
        self.store_path = config.get("token_store_path") or None
        self.config_refresh_token = config.get("refresh_token") or None
        self.config_access_token = config.get("access_token") or None
        self._spare = None

    @property
    def path(self):
        """The file rotated tokens go to (None: nowhere, tokens live in memory only)."""
        return self.store_path or self.config_path

    def initial(self):
        """(refresh_token, access_token) to start with, each None when absent: the token
        store's when it applies, else the config's."""
        stored = self._stored()
        return stored if stored else (self.config_refresh_token, self.config_access_token)

    def current(self):
        """(refresh_token, access_token) as stored on disk now (another run may have rotated
        them since this one started); (None, None) when there is nothing there."""
        if self.store_path:
            return self._stored() or (None, None)
        on_disk = _read_json(self.config_path) if self.config_path else {}
        return _text(on_disk.get("refresh_token")), _text(on_disk.get("access_token"))

    def _stored(self):
        """The store's (refresh_token, access_token) when the store applies, else None."""
        if not self.store_path:
            return None
        stored = _read_json(self.store_path)
        token = _text(stored.get("refresh_token"))
        if token and (self.config_refresh_token is None or stored.get(
                "config_refresh_token_sha256") == fingerprint(self.config_refresh_token)):
            return token, _text(stored.get("access_token"))
        return None

    def prepare(self):
        """Before a refresh token is spent (the lock held): make sure that the new one can be
        stored, whatever happens to the disk meanwhile. The store file exists (a token store is
        created, empty, readable by its owner only) and the room its rewrite needs is taken now
        (`safe_files.reserve`): written and synced, not merely proven possible, so that a disk
        that fills up during the request cannot keep the new token out. TapError, before
        anything is spent, when the store cannot be prepared."""
        if self.path is None:
            return
        path = os.path.realpath(self.path)
        try:
            if self.store_path:
                create_private_file(path, "{}\n")
            self._spare = reserve(path)
        except OSError as exc:
            raise self.unusable(exc) from None

    def unusable(self, exc):
        """The TapError for a store that cannot take a new token (`exc`: why)."""
        folder = os.path.dirname(os.path.realpath(self.path))
        if isinstance(exc, FileNotFoundError):
            reason = f"it does not exist and its folder {folder} takes no new file"
        elif exc.errno in (errno.ENOSPC, errno.EDQUOT):
            reason = f"its disk has no room for the new token ({exc.strerror or exc})"
        else:
            reason = f"neither it nor its folder {folder} is writable ({exc.strerror or exc})"
        if self.store_path:
            return TapError(
                f'token_store_path "{self.store_path}" cannot be written: {reason}. Help Scout '
                f"replaces the refresh token at every use, so the tap stops before spending it; "
                f"point token_store_path at a writable file on a disk with room")
        return TapError(
            f'the config file "{self.config_path}" cannot be rewritten: {reason}. Help Scout '
            f"replaces the refresh token at every use, so the tap stops before spending it; make "
            f"the file writable (and its disk not full), or set token_store_path to a writable file "
            f"(see docs/configuration.md)")

    def release(self):
        """Give back the room `prepare` took, when it was not used up."""
        release(self._spare)
        self._spare = None

    @contextmanager
    def lock(self, wait_seconds=None):
        """Hold the token's lock (other processes of this tap wait); TapError when another run
        keeps it longer than `wait_seconds` (LOCK_WAIT_SECONDS by default)."""
        if self.path is None:
            yield
            return
        try:
            handle, lock_path = _open_lock(os.path.realpath(self.path))
        except OSError as exc:
            raise self.unusable(exc) from None
        try:
            _flock(handle, lock_path, LOCK_WAIT_SECONDS if wait_seconds is None else wait_seconds)
            yield
        finally:
            os.close(handle)                # releases the lock

    def save(self, refresh_token, access_token):
        """Store a rotated pair. With a token store, the config file is updated as well when
        it can be (a failure there is only a warning: the store holds the token)."""
        if self.store_path:
            _write_store(self.store_path, refresh_token, access_token, self.config_refresh_token, self._spare)
            if self.config_path:
                try:
                    update_config_file(self.config_path,
                                       {"refresh_token": refresh_token, "access_token": access_token})
                except (OSError, ConfigError) as exc:
                    LOGGER.warning("the rotated refresh token is in token_store_path %s; the config "
                                   "file could not be updated as well (%s)", self.store_path,
                                   exc.strerror if isinstance(exc, OSError) and exc.strerror else exc)
        elif self.config_path:
            update_config_file(self.config_path,
                               {"refresh_token": refresh_token, "access_token": access_token}, self._spare)


def store_tokens(config, config_path, refresh_token, access_token):
    """Save a freshly authorized token pair (`--authorize`) the way a rotation is saved: into
    `token_store_path` when the config sets it, else into the config file (mode kept; created
    readable by its owner only when it does not exist yet). Raises TapError when it cannot."""
    store = TokenStore(config, config_path)
    if store.path is None:
        raise TapError("nowhere to store the tokens: give a config file or token_store_path")
    if not store.store_path:
        create_private_file(config_path, "{}\n")
    try:
        with store.lock():
            store.prepare()
            try:
                if store.store_path:        # the config file stays as it is
                    _write_store(store.store_path, refresh_token, access_token, store.config_refresh_token,
                                 store._spare)
                else:
                    update_config_file(config_path, {"refresh_token": refresh_token,
                                                     "access_token": access_token}, store._spare)
            finally:
                store.release()
    except OSError as exc:
        raise TapError(f"the tokens could not be stored in {store.path} "
                       f"({exc.strerror or exc})") from None


def _write_store(path, refresh_token, access_token, config_refresh_token, spare=None):
    text = json.dumps({"refresh_token": refresh_token, "access_token": access_token,
                       "config_refresh_token_sha256": fingerprint(config_refresh_token)},
                      indent=2) + "\n"
    if not create_private_file(path, text):
        write_file(os.path.realpath(path), text, spare)


def _text(value):
    return value if isinstance(value, str) and value else None


def _read_json(path):
    """The JSON object in `path`, or {} when there is none or it cannot be read."""
    try:
        with open(path, encoding="utf-8") as handle:
            value = json.load(handle)
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _open_lock(real_path):
    """A descriptor to lock: `.<name>.lock` beside the file, or the file itself when the
    folder allows no new file (it is then written in place, so its inode stays the same)."""
    folder, name = os.path.split(real_path)
    lock_path = os.path.join(folder, f".{name}.lock")
    try:
        return os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600), lock_path
    except OSError:
        return os.open(real_path, os.O_RDONLY), real_path


def _flock(handle, lock_path, wait_seconds):
    deadline = time.monotonic() + wait_seconds
    told = False
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
        if time.monotonic() >= deadline:
            raise TapError(
                f"another tap-helpscout run is renewing the Help Scout token (it holds {lock_path}) "
                f"and did not finish within {wait_seconds:g} s; run one sync at a time per config "
                f"file or token_store_path")
        if not told:
            told = True
            LOGGER.info("waiting for another run of the tap to finish renewing the token (%s)",
                        lock_path)
        time.sleep(LOCK_POLL_SECONDS)
