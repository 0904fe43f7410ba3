"""Where the rotating refresh token lives (the config file, or `token_store_path`), and how a new
one reaches the disk without ever being lost: a complete file renamed over the old one (or, in a
read-only folder, a rewrite in place), proof before a refresh that the store can be written, and
a lock so that two runs never spend one token. Why and how: docs/design/tokens.md.
"""
import errno
import fcntl
import glob
import hashlib
import json
import os
import stat
import tempfile
import time
from contextlib import contextmanager

from tap_helpscout.errors import ConfigError, TapError
from tap_helpscout.logs import get_logger

LOGGER = get_logger(__name__)

# A temporary file older than this was left by a process killed in the middle of a write (a
# live write takes milliseconds); it holds secrets, so it is removed at the next write.
STALE_TEMPORARY_SECONDS = 600
# How long a run waits for another run's refresh (which takes a request, a second or two; its
# retries are bounded to about two minutes).
LOCK_WAIT_SECONDS = 150.0
LOCK_POLL_SECONDS = 0.05


# -- writing files -----------------------------------------------------------------------------

def update_config_file(path, updates):
    """Set the keys in `updates` in the JSON object stored at `path`, keeping every other key,
    the file's permission bits and (when allowed) its owner. Raises OSError when the file cannot
    be written, ConfigError when its current content is not a JSON object."""
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
    write_file(real_path, json.dumps(config, indent=2) + "\n")


def write_file(path, text):
    """Replace the content of the existing file `path` by `text`: atomically when its folder
    allows it, else in place."""
    try:
        write_file_atomically(path, text)
    except OSError as exc:
        if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        write_file_in_place(path, text)


def write_file_atomically(path, text):
    """Replace the file at `path` by one holding `text`, so that a crash at any moment leaves
    either the old or the new complete file at `path`."""
    original = os.stat(path)
    folder = os.path.dirname(os.path.abspath(path))
    # mkstemp creates the file readable by its owner only, so a secret is never exposed through
    # a more open temporary file, even before the original's mode is copied onto it.
    prefix, suffix = "." + os.path.basename(path) + ".", ".tmp"
    descriptor, temp_path = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=folder)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as temp_file:
            temp_file.write(text)
            temp_file.flush()
            _copy_owner(temp_file.fileno(), original)
            os.fchmod(temp_file.fileno(), stat.S_IMODE(original.st_mode))
            os.fsync(temp_file.fileno())
        os.replace(temp_path, path)
    except BaseException:
        _remove_quietly(temp_path)
        raise
    _fsync_folder(folder)
    _remove_stale_temporaries(os.path.join(glob.escape(folder), glob.escape(prefix) + "*" + suffix))


def write_file_in_place(path, text):
    """Rewrite the file at `path` with `text` for a folder where no new file can be made. The
    new content is padded with spaces (valid at the end of JSON) to at least the old length,
    so that it goes out in one write that never leaves old bytes behind it."""
    data = text.encode("utf-8")
    with open(path, "r+b") as handle:
        old_length = os.fstat(handle.fileno()).st_size
        data += b" " * max(0, old_length - len(data))
        os.pwrite(handle.fileno(), data, 0)
        handle.truncate(len(data))
        os.fsync(handle.fileno())


def create_private_file(path, text):
    """Create `path` readable by its owner only, holding `text`; nothing when it exists."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(descriptor, "w", encoding="utf-8") as new_file:
        new_file.write(text)
        new_file.flush()
        os.fsync(new_file.fileno())
    return True


def _folder_is_writable(folder):
    """Whether a file can be created in `folder`: proven by creating one (permission bits say
    nothing about a read-only mount, and nothing at all to root)."""
    try:
        descriptor, probe = tempfile.mkstemp(prefix=".tap-helpscout-probe.", dir=folder)
    except OSError:
        return False
    os.close(descriptor)
    _remove_quietly(probe)
    return True


def _remove_stale_temporaries(pattern):
    now = time.time()
    for leftover in glob.glob(pattern):
        try:
            if now - os.stat(leftover).st_mtime > STALE_TEMPORARY_SECONDS:
                os.unlink(leftover)
        except OSError:
            pass


def _copy_owner(descriptor, original):
    """Keep the original owner when this process may (it runs as root, or already owns the file
    and belongs to its group); otherwise the new file simply belongs to this process."""
    try:
        os.fchown(descriptor, original.st_uid, original.st_gid)
    except PermissionError:
        pass


def _fsync_folder(folder):
    """Flush the rename itself: without it a power cut can bring back the old folder entry."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _remove_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


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
        self._proven = False

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

    def ensure_writable(self):
        """Stop (TapError) unless a new refresh token could be stored: call before spending one."""
        if self._proven or self.path is None:
            return
        path = os.path.realpath(self.path)
        folder = os.path.dirname(path)
        if _folder_is_writable(folder):
            self._proven = True
            return
        try:
            with open(path, "r+b"):
                pass
        except FileNotFoundError:
            reason = f"it does not exist and its folder {folder} is not writable"
        except OSError as exc:
            reason = f"neither it nor its folder {folder} is writable ({exc.strerror or exc})"
        else:
            self._proven = True             # written in place
            return
        if self.store_path:
            raise TapError(
                f'token_store_path "{self.store_path}" cannot be written: {reason}. Help Scout '
                f"replaces the refresh token at every use, so the tap stops before spending it; "
                f"point token_store_path at a writable file")
        raise TapError(
            f'the config file "{self.config_path}" cannot be rewritten: {reason}. Help Scout '
            f"replaces the refresh token at every use, so the tap stops before spending it; make "
            f"the file writable, or set token_store_path to a writable file (see docs/configuration.md)")

    @contextmanager
    def lock(self, wait_seconds=None):
        """Hold the token's lock (other processes of this tap wait); TapError when another run
        keeps it longer than `wait_seconds` (LOCK_WAIT_SECONDS by default)."""
        if self.path is None:
            yield
            return
        handle, lock_path = _open_lock(os.path.realpath(self.path))
        try:
            _flock(handle, lock_path, LOCK_WAIT_SECONDS if wait_seconds is None else wait_seconds)
            yield
        finally:
            os.close(handle)                # releases the lock

    def save(self, refresh_token, access_token):
        """Store a rotated pair. With a token store, the config file is updated as well when
        it can be (a failure there is only a warning: the store holds the token)."""
        if self.store_path:
            _write_store(self.store_path, refresh_token, access_token, self.config_refresh_token)
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
                               {"refresh_token": refresh_token, "access_token": access_token})


def store_tokens(config, config_path, refresh_token, access_token):
    """Save a freshly authorized token pair (`--authorize`) the way a rotation is saved: into
    `token_store_path` when the config sets it, else into the config file (mode kept; created
    readable by its owner only when it does not exist yet). Raises TapError when it cannot."""
    store = TokenStore(config, config_path)
    if store.path is None:
        raise TapError("nowhere to store the tokens: give a config file or token_store_path")
    if not store.store_path:
        create_private_file(config_path, "{}\n")
    store.ensure_writable()
    try:
        with store.lock():
            if store.store_path:
                _write_store(store.store_path, refresh_token, access_token, store.config_refresh_token)
            else:
                update_config_file(config_path, {"refresh_token": refresh_token,
                                                 "access_token": access_token})
    except OSError as exc:
        raise TapError(f"the tokens could not be stored in {store.path} "
                       f"({exc.strerror or exc})") from None


def _write_store(path, refresh_token, access_token, config_refresh_token):
    text = json.dumps({"refresh_token": refresh_token, "access_token": access_token,
                       "config_refresh_token_sha256": fingerprint(config_refresh_token)},
                      indent=2) + "\n"
    if not create_private_file(path, text):
        write_file(os.path.realpath(path), text)


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
