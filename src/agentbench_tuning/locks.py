"""Process ownership of a directory: a lock file holding the owner's PID, and a liveness check for PIDs.

    with RunLock(out_dir):      # a second run into out_dir is refused while this one lives
        ...
"""

from __future__ import annotations

import os
from pathlib import Path


class DirectoryInUse(ValueError):
    """Another live process holds the directory; the message says which and what to do."""


def pid_alive(pid: int) -> bool:
    """Whether a process with this PID exists on this machine (one we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLock:
    """`out/.lock` holds the PID of the run writing there; a second run is refused while that PID lives."""

    def __init__(self, out_dir: str | Path):
        self.path = Path(out_dir) / ".lock"

    def __enter__(self) -> RunLock:
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                owner = self._owner()
                if owner is not None and pid_alive(owner):
                    raise DirectoryInUse(f"{self.path.parent} is in use by another run (pid {owner}); wait for it or "
                                      "use another --out") from None
                self.path.unlink(missing_ok=True)  # a killed run's stale lock
                continue
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
            return self
        raise DirectoryInUse(f"could not take {self.path}; remove it if no run is using {self.path.parent}")

    def _owner(self) -> int | None:
        try:
            return int(self.path.read_text().strip())
        except (OSError, ValueError):
            return None

    def __exit__(self, *exc: object) -> None:
        self.path.unlink(missing_ok=True)
