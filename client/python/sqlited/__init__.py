"""sqlited: a DB-API 2.0 (PEP 249) driver for the sqlited daemon.

Shaped like Python's own ``sqlite3``, so that code moves over by changing its
import and its ``connect()``::

    import sqlited
    conn = sqlited.connect("var/sqlited.sock")    # or $SQLITED_SOCKET
    with conn:                                    # commit, or roll back
        conn.execute("insert into notes(body) values (?)", ("hello",))
    for row in conn.execute("select id, body from notes"):
        print(row)

Pure Python; its one dependency is msgpack. The wire contract is
protocol/PROTOCOL.md. See ``Connection`` for transactions and thread safety,
``Cursor`` for results, ``exceptions`` for errors.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

from .connection import Connection
from .cursor import Cursor
from .exceptions import (DatabaseError, DataError, Error, IntegrityError,
                         InterfaceError, InternalError, NotSupportedError,
                         OperationalError, ProgrammingError, Warning)
from .types import (BINARY, DATETIME, NUMBER, ROWID, STRING, Binary, Date,
                    DateFromTicks, Row, Time, TimeFromTicks, Timestamp,
                    PARSE_COLNAMES, PARSE_DECLTYPES, TimestampFromTicks,
                    register_adapter, register_converter)

__all__ = [
    "connect", "Connection", "Cursor", "Row", "apilevel", "threadsafety",
    "paramstyle", "Warning", "Error", "InterfaceError", "DatabaseError",
    "DataError", "OperationalError", "IntegrityError", "InternalError",
    "ProgrammingError", "NotSupportedError", "Date", "Time", "Timestamp",
    "DateFromTicks", "TimeFromTicks", "TimestampFromTicks", "Binary",
    "STRING", "BINARY", "NUMBER", "DATETIME", "ROWID", "register_adapter",
    "register_converter",
    "sqlite_version", "sqlite_version_info", "version", "version_info",
    "PARSE_DECLTYPES", "PARSE_COLNAMES",
]

version = "0.1.0"
version_info: Tuple[int, ...] = (0, 1, 0)

#: PEP 249 globals. threadsafety 1: threads may share the module, not a
#: connection (see Connection).
apilevel = "2.0"
threadsafety = 1
paramstyle = "qmark"

def _local_sqlite_version() -> str:
    try:
        import sqlite3
        return sqlite3.sqlite_version
    except ImportError:  # a Python built without it
        return "3.0.0"


#: The SQLite version of the daemon this process connected to last (before
#: any connection, the version of the SQLite library on this machine, which
#: is the daemon's when both come from the same distribution).
sqlite_version: str = _local_sqlite_version()
sqlite_version_info: Tuple[int, ...] = tuple(int(x) for x in sqlite_version.split("."))


def connect(socket: Optional[str] = None, timeout: Optional[float] = 5.0,
            *, factory: Any = Connection, **kwargs: Any) -> Connection:
    """Connects to the sqlited daemon listening on @socket (default
    ``$SQLITED_SOCKET``, then ``./var/sqlited.sock``) and checks that it
    speaks protocol 1. @timeout is each request's deadline in seconds (None:
    the daemon's ``--timeout``). Keyword arguments: ``isolation_level``,
    ``check_same_thread``, ``detect_types`` (``PARSE_DECLTYPES``,
    ``PARSE_COLNAMES``: convert results with ``register_converter()``'s
    converters), ``cached_statements`` (see ``Connection``). Raises OperationalError (``SQLITED_ECLOSED``) when
    nothing listens there."""
    global sqlite_version, sqlite_version_info
    conn = factory(socket, timeout, **kwargs)
    if conn.sqlite_version:
        try:
            sqlite_version_info = tuple(int(x) for x in conn.sqlite_version.split("."))
            sqlite_version = conn.sqlite_version
        except ValueError:
            pass
    return conn
