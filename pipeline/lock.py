"""The workspace lock: one unattended run at a time (an I/O module).

The lock is ``WORKSPACE/.campwatch.lock``. A run takes an exclusive
``fcntl.flock`` on an open descriptor of that file and writes its holder
(PID, host, start time, command) into it. The kernel drops a ``flock`` when
the descriptor closes, so a run that is killed (even with SIGKILL) releases
the lock by dying: a lock file left behind by a dead run holds no lock and the
next run takes it over, noting the stale holder it recovered from. The file is
never deleted (deleting a locked file lets two runs lock two different files).

``flock`` is advisory and local: on NFS and similar shares use a workspace on
local disk for the lock, or one host per workspace.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from imagery.errors import ImageryError
from pipeline.errors import LockHeldError, PipelineError

if TYPE_CHECKING:  # imported where used: the CLI imports this module for --help
    from imagery.workspace import FacilityWorkspace

log = logging.getLogger(__name__)

LOCK_NAME = ".campwatch.lock"
"""Name of the lock file inside the workspace."""


@dataclass(frozen=True)
class LockHolder:
    """Who holds (or last held) a workspace lock, as written in the lock file."""

    pid: int
    """Process id of the holder."""
    host: str
    """Host name of the holder."""
    started: str
    """When the holder took the lock (ISO 8601, UTC)."""
    command: str
    """What the holder runs, e.g. "campwatch watch"."""

    def describe(self) -> str:
        """The holder in words, for messages."""
        return f"pid {self.pid} on {self.host} since {self.started} ({self.command})"


@dataclass(frozen=True)
class HeldLock:
    """A lock this process holds (yielded by :func:`workspace_lock`)."""

    path: Path
    """The lock file."""
    holder: LockHolder
    """This process, as written in the file."""
    recovered: LockHolder | None
    """The previous holder when the file was left behind by a run that died, else None."""
    swept: tuple[Path, ...] = field(default=())
    """Temporary files of an earlier, killed run, removed when the lock was taken."""


_TEMP_NAME = re.compile(
    r"^\..+\.(tmp|stage\.tif|partial)$"  # .NAME.XXXX.tmp, .NAME.XXXX.stage.tif, .report.html.tmp
    r"|^\..+\.[a-z0-9_]{8}(\.(png|pdf|svg|jpg|tif|csv|parquet|json|geojson|kmz|html))?$"
    r"|^[^.].*\.json\.tmp$"  # truth.json.tmp of the simulated archive
)
"""Names of the temporaries of campwatch's atomic writes (``tempfile.mkstemp`` beside the
target with a ``.NAME.`` prefix, then ``os.replace``)."""


def is_temporary(name: str) -> bool:
    """Whether a file name is one of campwatch's write temporaries.

    Example:
        >>> is_temporary(".a.tif.k2j4_x9q.stage.tif"), is_temporary(".campwatch.lock")
        (True, False)
    """
    return name != LOCK_NAME and _TEMP_NAME.match(name) is not None


def sweep_temporaries(workspace: Path) -> list[Path]:
    """Remove, at any depth under ``workspace``, the temporaries a killed run left behind.

    Call it only while holding the workspace lock (every writer holds it, so no
    temporary under the workspace belongs to a live run). :func:`workspace_lock`
    calls it each time it takes the lock.

    Example:
        >>> import tempfile
        >>> sweep_temporaries(Path(tempfile.mkdtemp()))
        []
    """
    removed: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(workspace):
        dirnames.sort()
        for name in sorted(filenames):
            if is_temporary(name):
                p = Path(dirpath) / name
                try:
                    p.unlink()
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    log.warning("%s: cannot remove a temporary file: %s", p, exc)
                    continue
                removed.append(p)
    if removed:
        log.warning("%s: removed %d temporary file(s) left by an earlier run", workspace,
                    len(removed))
    return removed


def _read_holder(fd: int) -> LockHolder | None:
    os.lseek(fd, 0, os.SEEK_SET)
    raw = b""
    while chunk := os.read(fd, 4096):
        raw += chunk
    if not raw.strip():
        return None
    try:
        data = json.loads(raw)
        return LockHolder(
            int(data["pid"]), str(data["host"]), str(data["started"]), str(data["command"])
        )
    except (ValueError, KeyError, TypeError):
        return LockHolder(-1, "?", "?", f"unreadable lock record {raw[:80]!r}")


def pid_alive(pid: int) -> bool:
    """Whether a process with ``pid`` exists on this host.

    Example:
        >>> pid_alive(os.getpid())
        True
    """
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _facility_workspaces(workspace: Path) -> list[FacilityWorkspace]:
    from imagery.workspace import FacilityWorkspace

    return [
        FacilityWorkspace(workspace, p.parent.name)
        for p in sorted(workspace.glob("*/catalogue.gpkg"))
    ]


def seal_facility(ws: FacilityWorkspace, crs: str, command: str, *, since_ns: int,
                  before: set[str]) -> int:
    """Seal one facility's derived files (:func:`imagery.verify.seal_facility`, imported late)."""
    from imagery.verify import seal_facility as seal

    return seal(ws, crs, command, since_ns=since_ns, before=before)


def _seal(workspace: Path, command: str, since_ns: int, before: dict[str, set[str]]) -> None:
    """Seal what this holder wrote into each facility directory (see :mod:`imagery.verify`)."""
    from imagery.catalogue import catalogue_crs  # imported here: the CLI imports this module

    for ws in _facility_workspaces(workspace):
        try:
            seal_facility(ws, catalogue_crs(ws.catalogue_path), command, since_ns=since_ns,
                          before=before.get(ws.facility_id, set()))
        except (ImageryError, OSError) as exc:  # never hide the run's own outcome
            log.warning("%s: derived files not sealed: %s", ws.dir, exc)


@contextmanager
def workspace_lock(workspace: Path, command: str = "campwatch") -> Iterator[HeldLock]:
    """Hold the workspace lock for the duration of the ``with`` block.

    Never waits: if another live run holds the lock, raises at once. On taking the
    lock, removes the temporaries a killed run left (at any depth); on releasing it,
    seals the derived files this holder wrote (:mod:`imagery.verify`), so ``campwatch
    verify`` can vouch for them. When the previous holder died holding the lock, the
    files it wrote after its recorded start are sealed too.

    Raises:
        LockHeldError: naming the lock file and the holder's PID, host, start and command.

    Example:
        >>> import tempfile
        >>> with workspace_lock(Path(tempfile.mkdtemp()), "doctest") as held:
        ...     held.holder.pid == os.getpid()
        True
    """
    workspace = Path(workspace)
    workspace.mkdir(parents=True, exist_ok=True)
    path = workspace / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise PipelineError(f"{path}: cannot open the workspace lock file: {exc}") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise PipelineError(f"{path}: cannot lock the workspace: {exc}") from exc
            holder = _read_holder(fd)
            who = holder.describe() if holder else "a process that has not written its record yet"
            raise LockHeldError(
                f"workspace {workspace} is locked by another campwatch run: {who}; "
                f"lock file {path}. Nothing was done; this run exits."
            ) from None
        previous = _read_holder(fd)
        recovered = None
        if previous is not None:
            recovered = previous
            alive = previous.host == socket.gethostname() and pid_alive(previous.pid)
            log.warning(
                "%s: recovered a stale lock left by %s (%s)",
                path,
                previous.describe(),
                "pid still exists but holds no lock" if alive else "no longer running",
            )
        holder = LockHolder(
            os.getpid(),
            socket.gethostname(),
            datetime.now(UTC).isoformat(timespec="seconds"),
            command,
        )
        record = json.dumps(holder.__dict__, sort_keys=True).encode() + b"\n"
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, record)
        os.fsync(fd)
        from imagery.verify import derived_files

        swept = tuple(sweep_temporaries(workspace))
        since_ns = time.time_ns()
        if recovered is not None:
            # A run died holding the lock: what it wrote from its start on is sealed with
            # this run's outputs (it was the only writer in that window).
            try:
                since_ns = min(since_ns, int(datetime.fromisoformat(recovered.started)
                                             .timestamp() * 1e9))
            except ValueError:
                log.warning("%s: unreadable start %r of the dead holder; its files stay "
                            "unsealed", path, recovered.started)
        before = {ws.facility_id: set(derived_files(ws)) for ws in _facility_workspaces(workspace)}
        try:
            yield HeldLock(path, holder, recovered, swept)
        finally:
            _seal(workspace, command, since_ns, before)
            # Empty the record before unlocking: an empty file means "released cleanly".
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
