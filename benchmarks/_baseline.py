"""The code of an earlier commit, checked out beside the current one, for side-by-side runs.

`checkout(commit)` yields the `src` folder of a temporary git worktree of `commit` (removed on
exit); a child process run with `PYTHONPATH=<that folder>` imports that version of multitag with
the same Python and installed libraries. `BASELINE` is main as it stood before the session whose
changes the benchmarks measure (issues 14-18).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from _common import REPO_DIR

BASELINE = "fd62b4e"


@contextmanager
def checkout(commit: str = BASELINE) -> Iterator[Path]:
    """A temporary worktree of `commit`; yields its `src` folder."""
    with tempfile.TemporaryDirectory(prefix="multitag-baseline-") as tmp:
        where = Path(tmp) / "tree"
        subprocess.run(["git", "-C", str(REPO_DIR), "worktree", "add", "--detach", str(where),
                        commit], check=True, capture_output=True)
        try:
            yield where / "src"
        finally:
            subprocess.run(["git", "-C", str(REPO_DIR), "worktree", "remove", "--force",
                            str(where)], capture_output=True)


def environment(src: Path) -> dict[str, str]:
    """The environment of a child that imports the multitag found in `src`."""
    return {**os.environ, "PYTHONPATH": str(src)}
