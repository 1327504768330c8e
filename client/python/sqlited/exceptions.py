"""The exceptions of PEP 249, and which one each daemon error becomes.

Every error the daemon reports is raised as the class Python's ``sqlite3``
raises for the same SQLite result code (a constraint violation is an
``IntegrityError``, a syntax error an ``OperationalError``, ...), carrying
``sqlite_errorcode`` (the extended result code) and ``sqlite_errorname``
(``SQLITE_CONSTRAINT_UNIQUE``) as Python 3.11's ``sqlite3`` does; its text is
the daemon's message (SQLite's own wording, so ``"locked" in str(e)`` still
works). The daemon's own errors (negative codes, names starting with
``SQLITED_``) and the driver's (a lost connection: ``SQLITED_ECLOSED``) carry
their code and name the same way.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Type


class Warning(Exception):  # noqa: A001 - the name PEP 249 requires
    """PEP 249: important warnings (never raised by this driver)."""


class Error(Exception):
    """Base class of every error this driver raises.

    ``sqlite_errorcode`` is the SQLite result code with its extended part
    (2067 for ``SQLITE_CONSTRAINT_UNIQUE``), or a negative sqlited code;
    ``sqlite_errorname`` its symbolic name. Both are None for errors the
    driver finds before sending anything (a wrong argument)."""

    sqlite_errorcode: Optional[int] = None
    sqlite_errorname: Optional[str] = None

    def __init__(self, *args: Any, code: Optional[int] = None,
                 name: Optional[str] = None) -> None:
        super().__init__(*args)
        self.sqlite_errorcode = code
        self.sqlite_errorname = name


class InterfaceError(Error):
    """PEP 249: an error of the driver rather than of the database."""


class DatabaseError(Error):
    """PEP 249: an error of the database."""


class DataError(DatabaseError):
    """PEP 249: a value out of range or too large."""


class OperationalError(DatabaseError):
    """PEP 249: an error of the database's operation, not necessarily the
    application's fault: locked, timed out, disconnected, syntax."""


class IntegrityError(DatabaseError):
    """PEP 249: a constraint failed."""


class InternalError(DatabaseError):
    """PEP 249: the database is in a state it should never be in."""


class ProgrammingError(DatabaseError):
    """PEP 249: the application used the API or SQL wrongly."""


class NotSupportedError(DatabaseError):
    """PEP 249: a feature that sqlited or this driver does not offer."""


# Primary SQLite result codes to the class sqlite3 raises for them
# (Modules/_sqlite/util.c, _pysqlite_seterror, Python 3.11). SQLITE_RANGE is
# the one departure: the daemon reports every parameter list that does not
# fit its statement with it, which sqlite3 checks itself and raises as
# ProgrammingError ("Incorrect number of bindings supplied").
_PRIMARY: Mapping[int, Type[Error]] = {
    1: OperationalError,   # SQLITE_ERROR
    2: InternalError,      # SQLITE_INTERNAL
    3: OperationalError,   # SQLITE_PERM
    4: OperationalError,   # SQLITE_ABORT
    5: OperationalError,   # SQLITE_BUSY
    6: OperationalError,   # SQLITE_LOCKED
    8: OperationalError,   # SQLITE_READONLY
    9: OperationalError,   # SQLITE_INTERRUPT
    10: OperationalError,  # SQLITE_IOERR
    11: DatabaseError,     # SQLITE_CORRUPT
    12: InternalError,     # SQLITE_NOTFOUND
    13: OperationalError,  # SQLITE_FULL
    14: OperationalError,  # SQLITE_CANTOPEN
    15: OperationalError,  # SQLITE_PROTOCOL
    16: OperationalError,  # SQLITE_EMPTY
    17: OperationalError,  # SQLITE_SCHEMA
    18: DataError,         # SQLITE_TOOBIG
    19: IntegrityError,    # SQLITE_CONSTRAINT
    20: IntegrityError,    # SQLITE_MISMATCH
    21: InterfaceError,    # SQLITE_MISUSE
    25: ProgrammingError,  # SQLITE_RANGE (see above)
}

# sqlited's own codes (protocol/PROTOCOL.md, "sqlited's own codes") and the
# driver's. A request the daemon finds malformed is the application's
# mistake; a result over a limit is bad data; the rest (deadlines, a daemon
# shutting down, expired transactions and cursors, limits on connections and
# cursors, a lost connection) are operational.
_SQLITED: Mapping[int, Type[Error]] = {
    -1000: ProgrammingError,  # SQLITED_BAD_REQUEST
    -1001: ProgrammingError,  # SQLITED_UNKNOWN_METHOD
    -1002: DataError,         # SQLITED_TOO_LARGE
    -1007: InternalError,     # SQLITED_INTERNAL
}

#: The driver's codes for failures of the connection itself; the names are
#: libsqlited's (include/sqlited.h).
ECLOSED = (-1100, "SQLITED_ECLOSED")
EPROTO = (-1101, "SQLITED_EPROTO")
EVERSION = (-1104, "SQLITED_EVERSION")


def from_daemon(error: Any) -> Error:
    """The exception for an error object of the daemon (a map with code,
    primary, name, message; see PROTOCOL.md, "The error object"). Unknown
    keys are ignored; a malformed object still becomes an Error."""
    if not isinstance(error, Mapping):
        return InterfaceError("malformed error from the daemon: %r" % (error,),
                              code=EPROTO[0], name=EPROTO[1])
    code = error.get("code")
    name = error.get("name")
    message = error.get("message") or name or "error"
    primary = error.get("primary")
    if not isinstance(code, int):
        code = None
    if not isinstance(primary, int):
        primary = code & 0xFF if code is not None and code > 0 else code
    if code is not None and code < 0:
        cls = _SQLITED.get(code, OperationalError)
    else:
        cls = _PRIMARY.get(primary or 0, DatabaseError)
    return cls(message, code=code, name=name)


def lost(message: str) -> OperationalError:
    """The error of a connection that broke (SQLITED_ECLOSED)."""
    return OperationalError(message, code=ECLOSED[0], name=ECLOSED[1])
