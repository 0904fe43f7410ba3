"""Writing a small file so that no crash, read-only folder or full disk loses its new content:
a complete file renamed over the old one, a rewrite in place where the folder takes no new file,
and room reserved beforehand on the file's disk (`reserve`) for a write that must not fail.
docs/design/tokens.md tells why the rotating refresh token needs all three.
"""
import errno
import glob
import os
import stat
import tempfile
import time

# A temporary file older than this was left by a process killed in the middle of a write (a
# live write takes milliseconds); it may hold secrets, so it is removed at the next write.
STALE_TEMPORARY_SECONDS = 600
# The room a reserve holds beyond the file's current length: any plausible growth of a config
# file whose tokens change (Help Scout's are 32 characters; even kilobyte-long ones fit).
RESERVE_BYTES = 16 * 1024
NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def reserve(path):
    """Take, now, the room a rewrite of the existing file `path` may need later, on its disk:
    a file `.<name>.reserve` beside it, as long as `path` plus RESERVE_BYTES, written and
    synced; where the folder takes no new file, `path` itself, padded with that many trailing
    spaces (valid at the end of JSON). Returns the reserve's path (None for the padded file);
    raises OSError when neither can be done (a full disk, a read-only file system)."""
    size = os.stat(path).st_size + RESERVE_BYTES
    folder, name = os.path.split(path)
    spare = os.path.join(folder, f".{name}.reserve")
    try:
        descriptor = os.open(spare, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        _pad(path, size)
        return None
    try:
        _fill(descriptor, size)
    except BaseException:
        os.close(descriptor)
        _remove_quietly(spare)
        raise
    os.close(descriptor)
    _fsync_folder(folder)
    return spare


def _fill(descriptor, size):
    """Write `size` spaces (allocated for real: no sparse file) and sync them."""
    block = b" " * min(size, 64 * 1024)
    written = 0
    while written < size:
        written += os.write(descriptor, block[:size - written])
    os.fsync(descriptor)


def _pad(path, size):
    with open(path, "r+b") as handle:
        current = os.fstat(handle.fileno()).st_size
        if current < size:
            os.pwrite(handle.fileno(), b" " * (size - current), current)
            os.fsync(handle.fileno())


def release(spare):
    """Give back a reserve that was not needed."""
    if spare:
        _remove_quietly(spare)


def write_file(path, text, spare=None):
    """Replace the content of the existing file `path` by `text`: atomically when its folder
    allows it, else in place; when the disk is full, through the room `spare` (from `reserve`)
    holds, which is then used up."""
    try:
        write_file_atomically(path, text)
    except OSError as exc:
        if spare and exc.errno in NO_ROOM and os.path.exists(spare):
            write_through_reserve(path, text, spare)
        elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            write_file_in_place(path, text)
        else:
            raise


def write_through_reserve(path, text, spare):
    """The atomic replace of `write_file_atomically`, through the reserve's blocks: `text` is
    written over its spaces (padded with spaces to its length, so that nothing grows), synced,
    given the original's mode and owner, and renamed over `path`."""
    original = os.stat(path)
    data = text.encode("utf-8")
    with open(spare, "r+b") as handle:
        length = os.fstat(handle.fileno()).st_size
        if len(data) > length:
            raise OSError(errno.ENOSPC, "the new content is larger than the room reserved for it")
        os.pwrite(handle.fileno(), data + b" " * (length - len(data)), 0)
        _copy_owner(handle.fileno(), original)
        os.fchmod(handle.fileno(), stat.S_IMODE(original.st_mode))
        os.fsync(handle.fileno())
    os.replace(spare, path)
    _fsync_folder(os.path.dirname(os.path.abspath(path)))


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
