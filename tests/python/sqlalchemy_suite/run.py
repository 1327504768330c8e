"""Runs SQLAlchemy's dialect compliance suite against a daemon of its own.

`make test` calls it after the driver's suite:

    /usr/bin/python3 tests/python/sqlalchemy_suite/run.py [pytest args]

It starts a daemon in a temporary directory, points the suite at it with
--dburi sqlite+sqlited:///SOCKET, and exits with pytest's status. The
dialect is found through its entry point (PYTHONPATH=client/python).
"""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parents[2] / "client" / "python"))

import pytest  # noqa: E402

from sqlited_daemon import Daemon  # noqa: E402


def main() -> int:
    with Daemon() as daemon:
        # SQLAlchemy's plugin reads test.cfg from the working directory.
        os.chdir(HERE)
        return int(pytest.main(["--dburi", "sqlite+sqlited:///" + daemon.socket,
                                *sys.argv[1:]]))


if __name__ == "__main__":
    sys.exit(main())
