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
CLIENT = str(HERE.parents[1] / "client" / "python")
sys.path.insert(0, str(HERE))
sys.path.insert(0, CLIENT)
# Processes the tests start (workers, applications) find the driver too.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [CLIENT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])

# SQLAlchemy's compliance suite runs on its own (sqlalchemy_suite/run.py):
# its pytest plugin takes over the session.
collect_ignore = ["sqlalchemy_suite"]

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
