"""Crash-safe updates of the tap's config file.

Help Scout rotates refresh tokens: once the tap has used one, only the new one works. The new
token therefore has to reach the disk in a way that survives a kill at any instant. The file is
never rewritten in place: the whole new content goes to a temporary file in the same folder,
which is flushed to disk and then renamed over the original (a rename within one file system is
atomic), and the folder entry is flushed too. At every instant the path names either the complete
old file or the complete new one.
"""
import glob
import hashlib
import json
import os
import stat
import tempfile
import time

from tap_helpscout.errors import ConfigError

# A temporary file older than this was left by a process killed in the middle of a write (a
# live write takes milliseconds); it holds secrets, so it is removed at the next write.
STALE_TEMPORARY_SECONDS = 600


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
    write_file_atomically(real_path, json.dumps(config, indent=2) + "\n")


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
    if not hasattr(os, "fchown"):
        return
    try:
        os.fchown(descriptor, original.st_uid, original.st_gid)
    except PermissionError:
        pass


def _fsync_folder(folder):
    """Flush the rename itself: without it a power cut can bring back the old folder entry."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return          # not possible on every platform (e.g. Windows); the rename is done
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


def fingerprint(secret):
    """A stable, non-reversible name for a secret, to recognise it without storing it."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def read_token_store(path, config_refresh_token):
    """The refresh token kept at `path` for the config's refresh token, or None: when there is
    no store yet, when it cannot be read, or when it was written for another config token (the
    user has authorized again and put the new token in the config, which then wins)."""
    try:
        with open(path, encoding="utf-8") as store_file:
            store = json.load(store_file)
    except (OSError, ValueError):
        return None
    if not isinstance(store, dict) or store.get("config_refresh_token_sha256") != fingerprint(config_refresh_token):
        return None
    token = store.get("refresh_token")
    return token if isinstance(token, str) and token else None


def write_token_store(path, refresh_token, config_refresh_token):
    """Keep the rotated refresh token at `path` (created readable by its owner only), written
    atomically like the config file."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(descriptor, "w", encoding="utf-8") as new_file:
            new_file.write("{}\n")
    write_file_atomically(os.path.realpath(path), json.dumps({
        "refresh_token": refresh_token,
        "config_refresh_token_sha256": fingerprint(config_refresh_token),
    }, indent=2) + "\n")

