"""Files the whole project shares a rule for: which names are images, how a folder is walked, how a file is written.

``walk_files`` is the one folder walk (data stage, ``brainedge-classify``, ``brainedge-bench``):
symbolic links are followed, each folder is walked once (a cycle is reported, not followed),
hidden names are skipped, and only regular files are returned; the rest is reported.

Every file a user could lose (a manifest, a bundle's files, a benchmark result) is written to a
temporary name beside its destination and renamed into place, so a full disk or a kill leaves
the previous version intact and never a half-written file under the final name.

Every command that writes an output folder holds it with ``output_lock`` while it works: a second
writer is refused in one line, and the kernel releases the lock when its holder dies, however it dies.
"""

from __future__ import annotations

import fcntl
import os
import socket
import stat
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from brainedge.edge_runtime.errors import BrainEdgeError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
"""What Pillow decodes for the runtime and the training pipeline alike (compared lower-cased)."""


def is_image_name(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def write_atomically(path: Path, data: bytes, replace: bool = True) -> None:
    """Write to a temporary file beside ``path``, flush it to disk, then rename it into place.

    ``replace=False`` never replaces a file that is there, even one another process has just
    written: FileExistsError, and the caller picks another name.
    """
    temporary = _staged(path, data)
    try:
        if replace:
            os.replace(temporary, path)
        else:
            _publish_new(temporary, path)
    except OSError as error:  # named after the file it was for, so no caller mistakes it for stdout's
        Path(temporary).unlink(missing_ok=True)
        raise OSError(error.errno, error.strerror, str(path)) from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _staged(path: Path, data: bytes) -> str:
    """``data`` on disk under a temporary name beside ``path``, ready to be renamed into place."""
    import tempfile  # here: with shutil, random, bz2 and lzma it is ~1 MB that a classify process seldom needs

    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise OSError(error.errno, error.strerror, str(path)) from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return temporary


def _publish_new(temporary: str, path: Path) -> None:
    """A hard link claims the name only if it is free; where links are not supported (FAT, some
    network shares), an exclusively created placeholder claims it, then the data replaces it."""
    try:
        os.link(temporary, path)
    except FileExistsError:
        raise
    except OSError:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        try:
            os.replace(temporary, path)
        except BaseException:
            path.unlink(missing_ok=True)  # never leave the empty placeholder under the name
            raise
    else:
        os.unlink(temporary)


LOCK_NAME = ".brainedge.lock"
"""The lock file ``output_lock`` keeps in a folder it holds: hidden, never output, removed on release."""


def lock_name(output_file: Path) -> str:
    """The lock file of one output file (a manifest), beside it: ``.split.csv.lock``."""
    return f".{Path(output_file).name}.lock"


@contextmanager
def output_lock(folder: Path, command: str, name: str = LOCK_NAME) -> Iterator[None]:
    """Hold ``folder`` (created if missing) for this process: a second writer is refused, exit 2.

    The lock is ``flock`` on ``folder/name``, so the kernel drops it when the holder dies, however
    it dies: a lock file left behind by a crash, whatever pid it names (one reused since), blocks
    nobody. The command, pid, host and time written inside are only the refusal's message. On
    release the lock file is removed, and so is a folder the lock created that nothing else filled.

    Args:
        folder: the output folder.
        command: the command that holds it, as the refusal names it (``brainedge-export``).
        name: the lock file's name in ``folder``; ``lock_name(file)`` holds one output file there.
    """
    folder = Path(folder)
    created = not os.path.lexists(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise BrainEdgeError(f"{shown(folder)}: exists and is not a folder; choose another --out") from None
    except OSError as error:
        raise BrainEdgeError(f"{shown(folder)}: cannot create the folder ({error.strerror or error})") from None
    path = folder / name
    descriptor = _take_lock(path, folder, command)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)  # while still held: a writer that opened it meanwhile sees it gone, retries
        os.close(descriptor)
        if created:
            try:
                folder.rmdir()  # only when empty: a command that could not start leaves no folder behind
            except OSError:
                pass


def _take_lock(path: Path, folder: Path, command: str) -> int:
    """A descriptor holding the flock of ``path``, its message written; BrainEdgeError while another holds it."""
    while True:
        try:  # O_NONBLOCK: a FIFO put there must not hang the open; O_NOFOLLOW: nor a link lead elsewhere
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
        except OSError as error:
            raise BrainEdgeError(f"{shown(path)}: cannot open the lock file ({error.strerror or error})") from None
        try:
            if not stat.S_ISREG(os.fstat(descriptor).st_mode):
                raise BrainEdgeError(
                    f"{shown(path)}: {file_kind(os.fstat(descriptor).st_mode)} where the lock file goes"
                )
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(descriptor, 512).decode("utf-8", "replace").strip() or f"another {command}"
                raise BrainEdgeError(
                    f"{shown(folder)}: in use by {shown(holder)}; wait for it to finish, or choose another --out"
                ) from None
            except OSError as error:
                raise BrainEdgeError(f"{shown(path)}: cannot lock ({error.strerror or error})") from None
            if _same_file(path, descriptor):
                _write_holder(descriptor, command)
                return descriptor
        except BaseException:
            os.close(descriptor)
            raise
        os.close(descriptor)  # its holder removed it as we locked it: lock the file now under the name


def _write_holder(descriptor: int, command: str) -> None:
    """The refusal's message for a second writer; the lock holds without it (a full disk, say)."""
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    try:
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"{command} (pid {os.getpid()} on {socket.gethostname()} since {when})\n".encode())
    except OSError:
        pass


def _same_file(path: Path, descriptor: int) -> bool:
    try:
        found = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    held = os.fstat(descriptor)
    return (found.st_dev, found.st_ino) == (held.st_dev, held.st_ino)


def write_text_atomically(path: Path, text: str) -> None:
    write_atomically(path, text.encode("utf-8"))


def shown(path: Path | str) -> str:
    """A path as one printable line: bytes that are not UTF-8 become ``\\xNN``, a line break ``\\n``."""
    text = os.fsencode(path).decode("utf-8", "backslashreplace")
    return "".join(char if char.isprintable() else char.encode("unicode_escape").decode("ascii") for char in text)


def is_utf8_name(name: str) -> bool:
    """False for a name Python could only decode with surrogate escapes (bytes that are not UTF-8)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def text_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be stored in a UTF-8 CSV manifest, or None when it can.

    Python's csv writer does not quote a lone carriage return, so a name holding one would
    come back cut in two.
    """
    if not is_utf8_name(name):
        return "name is not valid UTF-8; rename it"
    if "\r" in name:
        return "name contains a carriage return; rename it"
    return None


_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


def file_kind(mode: int) -> str:
    """What a file that is not a regular one is, in a user's words ("a FIFO", "a socket", ...)."""
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


@dataclass(frozen=True)
class FolderEntries:
    """One folder's visible entries, links followed; what cannot be used is in ``problems``."""

    folders: list[Path]
    files: list[Path]
    problems: list[tuple[Path, str]]
    """(path, reason) for each entry skipped: a broken link, a FIFO, a socket, a device, an unreadable entry."""
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)
    """(st_dev, st_ino) of each folder, what the cycle guard compares."""

    @property
    def empty(self) -> bool:
        return not (self.folders or self.files or self.problems)


def scan_folder(folder: Path, text_names: bool = False) -> FolderEntries:
    """The entries of one folder, sorted, hidden names (``.DS_Store``, ``.git``) left out.

    Symbolic links are followed: a link to a folder is a folder, a link to a file a file. Only
    regular files are listed, so a FIFO or a device is never opened. With ``text_names`` a name a
    manifest cannot store (``text_name_problem``: not UTF-8, a carriage return) is a problem too.
    """
    entries = FolderEntries([], [], [])
    try:
        names = sorted(entry.name for entry in os.scandir(folder) if not entry.name.startswith("."))
    except OSError as error:
        entries.problems.append((Path(folder), f"cannot list folder ({error.strerror or error})"))
        return entries
    for name in names:
        path = Path(folder, name)
        try:
            status = path.stat()
        except FileNotFoundError:
            entries.problems.append((path, "broken symbolic link"))
            continue
        except OSError as error:
            entries.problems.append((path, f"cannot read ({error.strerror or error})"))
            continue
        problem = text_name_problem(name) if text_names else None
        if problem:
            entries.problems.append((path, problem))
        elif stat.S_ISDIR(status.st_mode):
            entries.folders.append(path)
            entries.keys[path] = (status.st_dev, status.st_ino)
        elif stat.S_ISREG(status.st_mode):
            entries.files.append(path)
        else:
            entries.problems.append((path, f"{file_kind(status.st_mode)}, not a regular file; skipped"))
    return entries


@dataclass(frozen=True)
class FolderWalk:
    files: list[Path]
    """Regular files under the root, each folder's files (sorted) before its subfolders; paths keep the links."""
    problems: list[tuple[Path, str]]
    """(path, reason) for everything skipped; see ``scan_folder``, plus folders reached a second time."""
    empty_folders: list[Path]
    """Folders with no visible entry at all."""


def walk_files(root: Path, text_names: bool = False, walked_elsewhere: Sequence[Path] = ()) -> FolderWalk:
    """Every regular file under ``root``: the one rule the data stage, the runtime and the benchmarks share.

    Links are followed, and each folder is walked once: a link back to a folder already walked
    (a cycle, or a second way to the same folder) is reported and skipped, by (st_dev, st_ino).
    ``walked_elsewhere``: folders the caller walks on its own (a dataset's root, its other class
    folders), which a link from inside ``root`` must not pull in under the wrong class.
    """
    root = Path(root)
    seen = {_key(folder): folder for folder in walked_elsewhere if folder.is_dir()}
    seen[_key(root)] = root
    walk = FolderWalk([], [], [])
    _walk(root, seen, walk, text_names)
    return walk


def _key(folder: Path) -> tuple[int, int]:
    status = folder.stat()
    return status.st_dev, status.st_ino


def _walk(folder: Path, seen: dict[tuple[int, int], Path], walk: FolderWalk, text_names: bool) -> None:
    entries = scan_folder(folder, text_names)
    if entries.empty:
        walk.empty_folders.append(folder)
    walk.files.extend(entries.files)
    walk.problems.extend(entries.problems)
    for subfolder in entries.folders:
        key = entries.keys[subfolder]
        if key in seen:
            walk.problems.append((subfolder, f"same folder as {shown(seen[key])}, already walked (a link cycle?)"))
            continue
        seen[key] = subfolder
        _walk(subfolder, seen, walk, text_names)


def check_output_folder(folder: Path) -> None:
    """Refuse, before any work, a folder that cannot be created or written: one line naming it.

    The permission check is advisory (root passes it); the write itself still reports failure.
    """
    folder = Path(folder)
    existing = folder
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        where = "" if existing == folder else f" ({shown(existing)} is not a folder)"
        raise BrainEdgeError(f"{shown(folder)}: cannot write there, not a folder{where}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise BrainEdgeError(f"{shown(folder)}: cannot write there (permission denied on {shown(existing)})")


def check_named_folder(folder: Path, holding: str) -> None:
    """--out must name a folder: left empty or '.', a command's files would land among the current folder's."""
    if not str(folder).strip() or Path(folder) == Path():
        raise BrainEdgeError(f"--out is empty or the current folder: name a folder for {holding}")


def check_results_folder(folder: Path, names: Collection[str], record: str, is_record: Callable[[bytes], bool]) -> None:
    """A folder a command writes ``names`` into must be new, empty, or an earlier run's: holding only
    those names (and the hidden temporary files a killed run left), with its ``record`` among them as
    the command writes it. Another's files would be mixed in or, under one of the names, replaced."""
    folder = Path(folder)
    check_named_folder(folder, "the results")
    check_output_folder(folder)
    if not folder.is_dir():
        return
    others = sorted(
        entry.name
        for entry in folder.iterdir()
        if entry.name not in names
        and entry.name != LOCK_NAME
        and not (entry.name.startswith(".") and any(name in entry.name for name in names))
    )
    if others:
        listed = ", ".join(shown(name) for name in others[:3]) + (", ..." if len(others) > 3 else "")
        raise BrainEdgeError(
            f"{shown(folder)}: already holds other files ({listed}); choose a new or empty --out, "
            "or the folder of an earlier run of this command"
        )
    ours = [name for name in names if os.path.lexists(folder / name)]
    for name in ours:  # found now, not after the work, when part of the set is already replaced
        _check_regular_file(folder / name)
    if ours and not _starts_like(folder / record, is_record):
        raise BrainEdgeError(
            f"{shown(folder)}: holds {shown(ours[0])} but not this command's {record}, so not an earlier run's "
            "output; choose a new or empty --out"
        )


def _starts_like(path: Path, is_ours: Callable[[bytes], bool]) -> bool:
    if path.is_symlink() or not path.is_file():
        return False
    try:
        with path.open("rb") as stream:
            return is_ours(stream.read(4096))
    except OSError as error:
        raise BrainEdgeError(
            f"{shown(path)}: cannot read it ({error.strerror or error}) to tell whether an earlier run wrote it; "
            "choose another --out"
        ) from None


def check_replaceable(path: Path, is_ours: Callable[[bytes], bool], what: str) -> None:
    """An output file may replace only an earlier output of its kind: anything else is the user's."""
    check_output_file(path)
    path = Path(path)
    if os.path.lexists(path):
        _check_regular_file(path)
    if path.exists() and path.stat().st_size and not _starts_like(path, is_ours):  # empty: nothing to lose
        raise BrainEdgeError(f"{shown(path)}: exists and is not {what}; choose another --out or remove it")


def _check_regular_file(path: Path) -> None:
    """A device, a pipe, a folder or a link where an output goes would be replaced by a plain file."""
    if path.is_symlink() or not path.is_file():
        raise BrainEdgeError(f"{shown(path)}: not a regular file, which would be replaced; choose another --out")


def check_output_file(path: Path) -> None:
    """Refuse, before any work, an output file that could not be written: one line naming it."""
    path = Path(path)
    if path.is_dir():
        raise BrainEdgeError(f"{shown(path)}: is a folder; expected the name of a file to write")
    check_output_folder(path.parent)


def write_output(path: Path, data: bytes) -> None:
    """``write_atomically``, creating the folder, with a failure (full disk, read-only) as one line."""
    write_outputs({Path(path): data})


def write_outputs(files: Mapping[Path, bytes]) -> None:
    """Files that belong together (a record, its report, its plot) put in place as a set: each is
    written to a temporary name first and the renames come only once all are on disk, so a full disk
    or a Ctrl-C while writing leaves the earlier set whole, not a new record beside an old plot."""
    staged: dict[Path, str] = {}
    path = Path()
    try:
        for path, data in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            staged[path] = _staged(path, data)
        for path, temporary in staged.items():
            os.replace(temporary, path)
    except OSError as error:
        raise BrainEdgeError(
            f"{shown(path)}: cannot write ({error.strerror or error}); any previous version is intact"
        ) from None
    finally:  # whatever was not renamed into place (a failure, a Ctrl-C) leaves no temporary file behind
        for temporary in staged.values():
            Path(temporary).unlink(missing_ok=True)
