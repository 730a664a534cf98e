"""A run's folder: which run a path or ``--resume`` names, which folder a new run takes, the lock that keeps a second trainer out, and tidying up.

- A folder holds a run once it has a checkpoint or a ``generator.pdparams``, or
  while a trainer holds its lock. A folder with none of these (a start killed
  before its first checkpoint) is not a run: the next new run takes it over.
- ``<run>/.lock`` is an ``flock`` held by the process training the run, with its
  PID inside for the message a second process gets. The kernel drops the lock
  when its holder dies, however it dies, so a lock file a kill -9 left behind
  is stale by construction and the next trainer simply takes it.
- Temporary files of writes a killed process never finished
  (``.NAME.tmp-PID``, see ``files.write_atomically``) are deleted when a trainer starts.

POSIX only (``fcntl``), like the rest of the tooling around paddle's CPU builds.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from .checkpoint import list_checkpoints
from ..errors import UserError
from .io import reporting_write_errors, temp_files

LOCK_NAME = ".lock"
_LOCK_RETRY_S = 2.0  # a process checking the lock holds it for microseconds; retry this long before refusing

# What Trainer.end_of_epoch writes: removed when a new run takes over a folder whose earlier start never
# reached a checkpoint, so no picture or CSV of that attempt is mistaken for one of the new run.
EPOCH_OUTPUTS = ("history.csv", "evals.csv", "loss_curve.png", "progress.gif", "samples/epoch_*.png")


def _pid_in(fd: int) -> int:
    """The PID written in an open lock file; 0 while its holder has not written it yet."""
    text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return int(text) if text.isdigit() else 0


def _in_use(folder: Path, pid: int) -> UserError:
    holder = f"process {pid}" if pid else "another process"
    return UserError(f"run folder '{folder}' is in use by {holder}, which is training it; wait for it to finish "
                     "or stop it (Ctrl-C), then try again, or pick another run with -o run_name=NAME")


def lock_holder(folder: Path) -> int | None:
    """None when no process is training in ``folder``, else the PID of the one that is (0 if not known yet)."""
    try:
        fd = os.open(folder / LOCK_NAME, os.O_RDONLY)
    except OSError:  # no lock file: nobody trains here
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _pid_in(fd)
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def check_not_in_use(folder: Path) -> None:
    """Raise the one-line error if a process is training in ``folder`` (nothing is written)."""
    pid = lock_holder(folder)
    if pid is not None:
        raise _in_use(folder, pid)


class RunLock:
    """``with RunLock(run_dir):`` the exclusive right to write ``run_dir``, or a UserError naming the holder."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.path = folder / LOCK_NAME
        self._fd: int | None = None

    def __enter__(self) -> "RunLock":
        deadline = time.monotonic() + _LOCK_RETRY_S
        while self._fd is None:
            with reporting_write_errors(self.path):
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pid = _pid_in(fd)
                os.close(fd)
                if time.monotonic() > deadline:
                    raise _in_use(self.folder, pid) from None
                time.sleep(0.05)
                continue
            if self._still_named(fd):  # else its holder deleted it while releasing it: open the new one
                self._fd = fd
            else:
                os.close(fd)
        try:
            with reporting_write_errors(self.path):
                os.ftruncate(self._fd, 0)
                os.pwrite(self._fd, f"{os.getpid()}\n".encode("ascii"), 0)
        except UserError:
            self.__exit__()
            raise
        return self

    def _still_named(self, fd: int) -> bool:
        try:
            return os.stat(self.path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            return False

    def __exit__(self, *exc) -> None:
        self.path.unlink(missing_ok=True)  # while still holding it, so no one locks a file that is going away
        os.close(self._fd)
        self._fd = None


def why_taken(folder: Path) -> str | None:
    """Why a new run may not write into ``folder``, or None when it may (missing, or no run in it)."""
    if not folder.exists():
        return None
    if not folder.is_dir():
        return "is a file"
    pid = lock_holder(folder)
    if pid is not None:
        return f"is in use by {f'process {pid}' if pid else 'another process'}"
    if list_checkpoints(folder):
        return f"holds a run (continue that one with -o run_name={folder.name} --resume latest)"
    if (folder / "generator.pdparams").exists():
        return "holds a trained generator.pdparams"
    return None


def new_run_folder(output_dir: str, run_name: str) -> tuple[Path, str | None]:
    """The folder a new run writes to: ``output_dir/run_name``, else ``run_name-2``, ``-3``... (not created here).

    Returns it and, when it is not the first choice, a note saying why that one was passed over.
    """
    first = candidate = Path(output_dir) / run_name
    reason, n = why_taken(first), 1
    while why_taken(candidate):
        n += 1
        candidate = first.with_name(f"{run_name}-{n}")
    return candidate, (f"{first} {reason}; this run writes to {candidate}" if reason else None)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def tidy(run_dir: Path, new_run: bool) -> list[Path]:
    """Delete what interrupted processes left in ``run_dir``; returns the paths deleted.

    Always: temporary files of unfinished writes whose writer is gone. For a new run
    (which only takes a folder that holds no run): the pictures and CSVs of an
    earlier start that never reached a checkpoint, so none of them passes for the
    new run's. Its train.log is kept; the new run appends to it.
    """
    removed = [path for folder in (run_dir, run_dir / "samples", run_dir / "checkpoints")
               for path, pid in temp_files(folder) if not _alive(pid)]
    if new_run:
        removed += sorted(p for pattern in EPOCH_OUTPUTS for p in run_dir.glob(pattern) if p.is_file())
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def run_folder_of(path: Path) -> Path:
    """The run a path belongs to: a run folder itself, or the run holding a checkpoints/ folder or file."""
    folder = path if path.is_dir() else path.parent
    return folder.parent if folder.name == "checkpoints" else folder


def resume_target(spec: str, run_dir: Path) -> Path:
    """What ``--resume spec`` points at: ``run_dir`` for ``latest``, else the folder or file given."""
    return run_dir if spec == "latest" else Path(spec)


def find_checkpoint(spec: str, run_dir: Path) -> Path:
    """``latest`` -> newest checkpoint of ``run_dir``; a folder -> its newest; a file -> itself."""
    target = resume_target(spec, run_dir)
    if spec == "latest" and not target.is_dir():
        raise UserError(f"no run folder '{target}' to resume; train it first, or pick the run with "
                        "-o run_name=NAME or --resume PATH")
    if target.is_file():
        return target
    if target.is_dir():
        run = run_folder_of(target)
        found = list_checkpoints(run)
        if found:
            return found[-1]
        raise UserError(f"no checkpoint in '{run / 'checkpoints'}' (a run stopped before its first checkpoint "
                        "has nothing to resume); start it again without --resume, or pass --resume PATH to a .pdckpt")
    raise UserError(f"checkpoint '{spec}' not found; pass 'latest', a run folder or a .pdckpt file")
