"""`multitag --version`: prints the package version and exits 0, before any command runs."""

from __future__ import annotations

import pytest

import multitag
from multitag.cli import main


def _run(*args: str) -> int:
    with pytest.raises(SystemExit) as done:
        main(list(args))
    return int(done.value.code or 0)


def test_version_prints_the_package_version_and_exits_0(capsys) -> None:
    assert _run("--version") == 0
    captured = capsys.readouterr()
    assert captured.out == f"multitag {multitag.__version__}\n"
    assert captured.err == ""


def test_version_wins_over_a_command(capsys) -> None:
    assert _run("--version", "train", "--help") == 0
    assert capsys.readouterr().out.strip() == f"multitag {multitag.__version__}"


def test_version_is_listed_in_help(capsys) -> None:
    assert _run("--help") == 0
    assert "--version" in capsys.readouterr().out
