"""Fixtures of the Python suite: real daemons in temporary directories.

Each test that takes ``daemon`` gets a daemon of its own (no mocks), started
from build/sqlited (or $SQLITED_BIN); ``make_daemon(*flags)`` starts one with
flags of the test's choosing. ``conn`` is a connection to ``daemon``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1] / "client" / "python"))

from sqlited_daemon import Daemon  # noqa: E402

import sqlited  # noqa: E402


@pytest.fixture
def make_daemon():
    started = []

    def make(*flags: str) -> Daemon:
        d = Daemon(flags).start()
        started.append(d)
        return d

    yield make
    for d in started:
        d.cleanup()


@pytest.fixture
def daemon(make_daemon):
    return make_daemon()


@pytest.fixture
def conn(daemon):
    c = sqlited.connect(daemon.socket)
    yield c
    c.close()
