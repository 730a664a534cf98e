"""The one exception type for mistakes a user can fix, and how a failed write becomes one."""

from __future__ import annotations

import errno
from pathlib import Path


class UserError(Exception):
    """Bad input (config, path, checkpoint, data): shown as one line, exit code 2.

    The message names the problem and, where there is one, the fix.
    """


_WRITE_FIXES = {  # errno -> (what happened, what to do)
    errno.ENOSPC: ("the disk is full", "free some space"),
    errno.EDQUOT: ("the disk quota is used up", "free some space"),
    errno.EROFS: ("the file system is read-only", "write elsewhere (-o output_dir=DIR or --out DIR)"),
    errno.EACCES: ("permission denied", "write elsewhere (-o output_dir=DIR or --out DIR)"),
    errno.EPERM: ("permission denied", "write elsewhere (-o output_dir=DIR or --out DIR)"),
}


def cannot_write(path: Path, exc: OSError) -> UserError:
    """The UserError for an OSError raised while writing ``path``: names the folder, the cause and the fix.

    Files written before stay as they were (every write is atomic), so the message
    says so: after the fix, ``--resume latest`` continues from the newest checkpoint.
    """
    what, fix = _WRITE_FIXES.get(exc.errno, (exc.strerror or type(exc).__name__, "check that folder"))
    return UserError(f"cannot write {path.name} in '{path.parent}': {what}; {fix} and run again (what was "
                     "written before is intact; training continues with --resume latest)")
