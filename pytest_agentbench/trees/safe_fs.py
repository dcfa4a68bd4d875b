"""File-system work on trees an agent has touched, without ever following its links.

Everything here walks by directory file descriptors (``openat`` with ``O_NOFOLLOW``), so:

- a symlink the agent made is read as a link, never as what it points to: host-side copies and
  overlays cannot be redirected out of the tree (measured: the overlay of ``hidden/`` once wrote
  on the host through an agent-made link);
- depth is bounded by our own counter, not by ``PATH_MAX`` or Python's recursion limit: 3,000
  nested directories (``rmtree`` hit ``RecursionError``, ``git worktree remove`` "File name too
  long") are scanned to the bound and removed completely;
- special files (FIFOs, sockets, devices) are reported as such and never opened, so a FIFO at a
  hidden test's path cannot block the harness.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import PurePosixPath

from pytest_agentbench.errors import AgentbenchError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC


class TreeError(AgentbenchError):
    """A tree that cannot be read within the bounds (too deep, too many entries, too big)."""


@dataclass(frozen=True)
class Entry:
    """One non-directory entry of a scanned tree."""

    path: str  # relative, POSIX, as git writes it
    kind: str  # "file" | "link" | "special"
    executable: bool = False
    size: int = 0
    blob: str = ""  # git's blob id of the content (a link's content is its target)
    target: str = ""  # for links
    data: bytes | None = None  # kept for files that differ from the baseline (see scan_tree)


@dataclass(frozen=True)
class ScanLimits:
    max_depth: int = 128
    max_entries: int = 100_000
    max_bytes: int = 512 * 2**20  # bytes read from files whose size or content differ


def blob_id(data: bytes) -> str:
    """git's object id of a blob holding ``data`` (so results compare with ``git ls-tree``)."""
    digest = hashlib.sha1(b"blob %d\0" % len(data))
    digest.update(data)
    return digest.hexdigest()


def _read_at(dir_fd: int, name: str, size: int) -> bytes:
    fd = os.open(name, _READ_FLAGS, dir_fd=dir_fd)
    try:
        chunks, left = [], size
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def scan_tree(root: str | os.PathLike, baseline: dict[str, tuple[str, str]] | None = None,
              skip=None, limits: ScanLimits = ScanLimits(), read: bool = True) -> dict[str, Entry]:
    """Every file, link and special file under ``root`` (not directories), by relative path.

    ``baseline`` maps paths to ``(mode, blob)`` as ``git ls-tree`` gives them; file contents that
    differ from it are kept in ``Entry.data`` (the caller copies them), the rest are dropped after
    hashing. ``skip(relative_path, is_dir)`` leaves entries out (noise, ``.git``). With
    ``read=False`` only names and kinds are gathered (no content read). Raises
    :class:`TreeError` past the limits.
    """
    baseline = baseline or {}
    found: dict[str, Entry] = {}
    read_bytes = 0
    root_fd = os.open(os.fspath(root), _DIR_FLAGS)
    stack: list[tuple[int, str, int]] = [(root_fd, "", 0)]
    try:
        while stack:
            dir_fd, prefix, depth = stack.pop()
            try:
                with os.scandir(dir_fd) as entries:
                    names = sorted(entry.name for entry in entries)
                for name in names:
                    relative = f"{prefix}{name}"
                    info = os.lstat(name, dir_fd=dir_fd)
                    is_dir = stat.S_ISDIR(info.st_mode)
                    if skip is not None and skip(relative, is_dir):
                        continue
                    if len(found) >= limits.max_entries:
                        raise TreeError(f"the tree holds more than {limits.max_entries} entries")
                    if is_dir:
                        if depth + 1 > limits.max_depth:
                            raise TreeError(f"the tree is deeper than {limits.max_depth} levels "
                                            f"(at {relative[:200]}...)")
                        child = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
                        stack.append((child, relative + "/", depth + 1))
                    elif stat.S_ISLNK(info.st_mode):
                        target = os.readlink(name, dir_fd=dir_fd)
                        found[relative] = Entry(relative, "link", target=target,
                                                blob=blob_id(os.fsencode(target)))
                    elif stat.S_ISREG(info.st_mode) and not read:
                        found[relative] = Entry(relative, "file", size=info.st_size)
                    elif stat.S_ISREG(info.st_mode):
                        executable = bool(info.st_mode & stat.S_IXUSR)
                        known = baseline.get(relative)
                        read_bytes += info.st_size
                        if read_bytes > limits.max_bytes:
                            raise TreeError(f"the tree holds more than {limits.max_bytes // 2**20} MiB"
                                            " to read")
                        data = _read_at(dir_fd, name, info.st_size)
                        blob = blob_id(data)
                        same = known is not None and known[1] == blob
                        if same:
                            read_bytes -= info.st_size  # unchanged files don't count towards the bound
                        found[relative] = Entry(relative, "file", executable, len(data), blob,
                                                data=None if same else data)
                    else:
                        found[relative] = Entry(relative, "special")
            finally:
                os.close(dir_fd)
    except BaseException:
        for fd, _, _ in stack:
            os.close(fd)
        raise
    return found


def scrub(root: str | os.PathLike, skip=None, max_depth: int = ScanLimits().max_depth) -> None:
    """Give every directory mode 0755 and every regular file 0644 or 0755 (its executable bit
    kept), and remove every extended attribute: nothing but names and contents survives a reset
    of a pooled tree (a ``chmod 000`` directory, a hidden test stashed in ``user.*``).
    ``skip(relative_path, is_dir)`` leaves entries alone (``.git``). Links are never followed."""
    root_fd = os.open(os.fspath(root), _DIR_FLAGS)
    _strip_xattrs(root_fd)
    stack: list[tuple[int, str, int]] = [(root_fd, "", 0)]
    try:
        while stack:
            dir_fd, prefix, depth = stack.pop()
            try:
                os.fchmod(dir_fd, 0o755)
                with os.scandir(dir_fd) as entries:
                    names = [entry.name for entry in entries]
                for name in names:
                    relative = f"{prefix}{name}"
                    info = os.lstat(name, dir_fd=dir_fd)
                    is_dir = stat.S_ISDIR(info.st_mode)
                    if skip is not None and skip(relative, is_dir):
                        continue
                    if is_dir:
                        if depth + 1 > max_depth:
                            raise TreeError(f"the tree is deeper than {max_depth} levels")
                        os.chmod(name, 0o755, dir_fd=dir_fd)  # a 000 directory cannot be opened
                        child = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
                        _strip_xattrs(child)
                        stack.append((child, relative + "/", depth + 1))
                    elif stat.S_ISREG(info.st_mode):
                        mode = 0o755 if info.st_mode & stat.S_IXUSR else 0o644
                        if stat.S_IMODE(info.st_mode) != mode:
                            os.chmod(name, mode, dir_fd=dir_fd)
                        fd = os.open(name, _READ_FLAGS, dir_fd=dir_fd)
                        try:
                            _strip_xattrs(fd)
                        finally:
                            os.close(fd)
            finally:
                os.close(dir_fd)
    except BaseException:
        for fd, _, _ in stack:
            os.close(fd)
        raise


def _strip_xattrs(fd: int) -> None:
    try:
        names = os.listxattr(fd)
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            return  # a file system without extended attributes has none to carry
        raise
    for name in names:
        if name != "security.selinux":  # the system's label, not something a command chose
            os.removexattr(fd, name)


# -- writing into a harness-owned tree -------------------------------------------------------------

def _parts(relative: str) -> list[str]:
    parts = PurePosixPath(relative).parts
    if not parts or any(part in ("", ".", "..") for part in parts) or relative.startswith("/"):
        raise ValueError(f"not a plain relative path: {relative!r}")
    return list(parts)


def _open_parent(root: str | os.PathLike, parts: list[str], create: bool) -> int:
    """A descriptor of the directory that holds ``parts[-1]``; anything that is not a real
    directory on the way (a link, a file, a FIFO) is replaced when ``create``."""
    fd = os.open(os.fspath(root), _DIR_FLAGS)
    try:
        for name in parts[:-1]:
            try:
                child = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if not create or exc.errno not in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                    raise
                if exc.errno != errno.ENOENT:
                    _remove_at(fd, name)
                os.mkdir(name, 0o755, dir_fd=fd)
                child = os.open(name, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
        return fd
    except BaseException:
        os.close(fd)
        raise


def write_file(root: str | os.PathLike, relative: str, data: bytes, executable: bool = False) -> None:
    """Write a regular file at ``root/relative``, replacing whatever is there (a link is
    replaced, never followed)."""
    parts = _parts(relative)
    parent = _open_parent(root, parts, create=True)
    try:
        _remove_at(parent, parts[-1], missing_ok=True)
        fd = os.open(parts[-1], _WRITE_FLAGS, 0o755 if executable else 0o644, dir_fd=parent)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
    finally:
        os.close(parent)


def make_link(root: str | os.PathLike, relative: str, target: str) -> None:
    parts = _parts(relative)
    parent = _open_parent(root, parts, create=True)
    try:
        _remove_at(parent, parts[-1], missing_ok=True)
        os.symlink(target, parts[-1], dir_fd=parent)
    finally:
        os.close(parent)


def remove(root: str | os.PathLike, relative: str) -> None:
    """Remove ``root/relative`` (file, link or whole directory); nothing there is fine."""
    parts = _parts(relative)
    try:
        parent = _open_parent(root, parts, create=False)
    except OSError:
        return  # a parent is missing or not a directory: nothing to remove below it
    try:
        _remove_at(parent, parts[-1], missing_ok=True)
    finally:
        os.close(parent)


def _remove_at(dir_fd: int, name: str, missing_ok: bool = False) -> None:
    try:
        info = os.lstat(name, dir_fd=dir_fd)
    except FileNotFoundError:
        if missing_ok:
            return
        raise
    if stat.S_ISDIR(info.st_mode):
        _remove_dir_at(dir_fd, name)
    else:
        os.unlink(name, dir_fd=dir_fd)


def _remove_dir_at(dir_fd: int, name: str) -> None:
    """Remove a directory tree of any depth without recursion (an explicit stack of fds)."""
    _make_writable(dir_fd, name)
    top = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    stack: list[tuple[int, int, str]] = [(dir_fd, top, name)]  # (parent fd, fd, name in parent)
    try:
        while stack:
            parent_fd, fd, dir_name = stack[-1]
            descended = False
            with os.scandir(fd) as entries:
                names = [entry.name for entry in entries]
            for child in names:
                info = os.lstat(child, dir_fd=fd)
                if stat.S_ISDIR(info.st_mode):
                    _make_writable(fd, child)
                    stack.append((fd, os.open(child, _DIR_FLAGS, dir_fd=fd), child))
                    descended = True
                    break
                os.unlink(child, dir_fd=fd)
            if not descended:
                stack.pop()
                os.close(fd)
                os.rmdir(dir_name, dir_fd=parent_fd)
    except BaseException:
        for _, fd, _ in stack:
            os.close(fd)
        raise


def _make_writable(parent_fd: int, name: str) -> None:
    # A read-only directory left by a command (chmod 500) would stop the removal of its entries.
    try:
        info = os.lstat(name, dir_fd=parent_fd)
        if stat.S_IMODE(info.st_mode) & 0o700 != 0o700:
            os.chmod(name, stat.S_IMODE(info.st_mode) | 0o700, dir_fd=parent_fd, follow_symlinks=False)
    except (OSError, NotImplementedError):
        pass


def remove_tree(path: str | os.PathLike) -> str | None:
    """Remove ``path`` whatever it holds (any depth, long names, special files, read-only
    directories). Never raises: returns why it could not, or None."""
    path = os.fspath(path)
    parent, name = os.path.split(os.path.abspath(path))
    try:
        parent_fd = os.open(parent, _DIR_FLAGS)
    except OSError as exc:
        return None if exc.errno == errno.ENOENT else f"{parent}: {exc.strerror}"
    try:
        _remove_at(parent_fd, name, missing_ok=True)
        return None
    except OSError as exc:
        return f"{path}: {exc}"
    finally:
        os.close(parent_fd)
