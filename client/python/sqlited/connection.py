"""Connections: one socket to the daemon, its transaction and its settings.

Transactions keep ``sqlite3``'s meaning (its legacy ``isolation_level``, the
one SQLAlchemy 1.4 and Flask applications use) and map onto the protocol:

- ``isolation_level`` "" (the default), "DEFERRED", "IMMEDIATE" or
  "EXCLUSIVE": an INSERT, UPDATE, DELETE or REPLACE first sends ``begin``
  (immediate for the last two: the daemon has no exclusive mode, and in WAL
  mode SQLite treats them alike); the statements that follow carry the
  transaction's id, and ``commit()`` / ``rollback()`` end it.
- ``None``: autocommit. Each statement is its own request, atomic on its
  own, and the daemon commits it together with other clients' writes
  (group commit): the fast path for single writes.
- ``BEGIN``, ``COMMIT``/``END`` and ``ROLLBACK`` in SQL become those calls.
  ``SAVEPOINT``, ``RELEASE`` and ``ROLLBACK TO`` run inside the transaction
  (a ``SAVEPOINT`` outside one begins it, and releasing that savepoint
  commits, as in SQLite).

``begin_read_only()`` opens a read-only transaction instead: every query
until ``commit()`` or ``rollback()`` reads one snapshot of the database,
taken at the begin, on the daemon's readers, while other clients go on
writing (none waits for it); a write in it raises ``OperationalError``
(``SQLITE_READONLY``) and writes nothing.

While a transaction of the writer is open, other clients' writes wait for
it: keep it short. The daemon rolls back one left idle past its ``--tx-idle-timeout``;
the next statement then fails with ``SQLITED_TX_EXPIRED`` and the connection
can begin again.

Thread safety (``threadsafety`` = 1): threads may share the module, not a
connection. A connection may move from thread to thread (as a pool hands it
out) when ``check_same_thread=False``; it must not be used by two at once.
"""

from __future__ import annotations

import os
import re
import threading
from typing import Any, Callable, List, Optional, Type

from . import exceptions as exc
from . import sql as sqlmod
from .cursor import Cursor
from .wire import Wire

#: Seconds the driver waits beyond a request's deadline for its answer
#: before it takes the connection for dead (the daemon answers a request
#: that ran out of time itself, with SQLITED_TIMEOUT).
DEADLINE_GRACE = 10.0

DEFAULT_SOCKET = "./var/sqlited.sock"

_ISOLATION_LEVELS = ("", "DEFERRED", "IMMEDIATE", "EXCLUSIVE")
_INTEGER = re.compile(r"[=(]\s*([+-]?\d+)")


class Connection:
    """A connection to sqlited, shaped like ``sqlite3.Connection``.

    @socket is the daemon's socket (default ``$SQLITED_SOCKET``, then
    ``./var/sqlited.sock``). @timeout (seconds) is each request's deadline
    (the daemon answers ``SQLITED_TIMEOUT``, having applied nothing, when it
    passes; locks held by other processes are waited out until then);
    None leaves the daemon's ``--timeout``. ``PRAGMA busy_timeout = ms``
    changes it later, as it changes ``sqlite3``'s lock wait.
    @isolation_level and @check_same_thread mean what they mean in
    ``sqlite3``. @detect_types (``PARSE_DECLTYPES | PARSE_COLNAMES``)
    converts result values as ``sqlite3`` does, with the converters of
    ``register_converter()`` ("date" and "timestamp" by default): by the
    declared type of a column (the daemon sends them when asked: query
    option ``decltypes``) or by ``[type]`` in its name, which
    ``description`` then leaves out. @cached_statements is accepted and ignored (the daemon
    caches statements)."""

    Warning = exc.Warning
    Error = exc.Error
    InterfaceError = exc.InterfaceError
    DatabaseError = exc.DatabaseError
    DataError = exc.DataError
    OperationalError = exc.OperationalError
    IntegrityError = exc.IntegrityError
    InternalError = exc.InternalError
    ProgrammingError = exc.ProgrammingError
    NotSupportedError = exc.NotSupportedError

    def __init__(self, socket: Optional[str] = None,
                 timeout: Optional[float] = 5.0, *,
                 isolation_level: Optional[str] = "",
                 check_same_thread: bool = True, detect_types: int = 0,
                 cached_statements: int = 128) -> None:
        self._closed = True
        if not isinstance(detect_types, int):
            raise TypeError("detect_types must be an int")
        self._detect_types = detect_types
        self._timeout_ms = self._to_ms(timeout)
        self._isolation_level = self._check_level(isolation_level)
        self.row_factory: Optional[Callable[[Cursor, tuple], Any]] = None
        self.text_factory: Callable[[bytes], Any] = str
        self._check_same_thread = check_same_thread
        self._thread = threading.get_ident()
        self._lock = threading.RLock()
        self._tx: Optional[int] = None
        self._tx_by_savepoint = False
        self._savepoints: List[str] = []
        self._orphans: List[int] = []  # fetches of dropped cursors
        self._orphan_cursors: List[int] = []  # daemon cursors to close
        path = socket or os.environ.get("SQLITED_SOCKET") or DEFAULT_SOCKET
        connect_timeout = (timeout if timeout and timeout > 0 else 5.0) + DEADLINE_GRACE
        self._wire = Wire(path, connect_timeout)
        self._closed = False
        try:
            hello = self._wire.receive(self._wire.send("hello", []),
                                       connect_timeout)
        except exc.Error:
            self._wire.close()
            self._closed = True
            raise
        if not isinstance(hello, dict) or hello.get("protocol") != 1:
            self._wire.close()
            self._closed = True
            raise exc.NotSupportedError(
                "sqlited at %s speaks protocol %r; this driver speaks 1"
                % (path, hello.get("protocol") if isinstance(hello, dict) else hello),
                code=exc.EVERSION[0], name=exc.EVERSION[1])
        limits = hello.get("limits") or {}
        self.server_version: str = hello.get("version", "")
        self.sqlite_version: str = hello.get("sqlite_version", "")
        self.limits: dict = dict(limits)
        self._daemon_timeout_ms = int(limits.get("timeout_ms", 30000) or 0)
        self._wire.set_max_message(int(limits.get("max_message_size", 0) or 0))

    # --------------------------------------------------------------- settings
    @staticmethod
    def _to_ms(timeout: Optional[float]) -> Optional[int]:
        if timeout is None:
            return None
        if timeout < 0:
            raise ValueError("timeout must not be negative")
        ms = int(round(timeout * 1000))
        return min(ms, 86_400_000) if ms > 0 else None

    @staticmethod
    def _check_level(level: Optional[str]) -> Optional[str]:
        if level is None:
            return None
        if not isinstance(level, str) or level.upper() not in _ISOLATION_LEVELS:
            raise ValueError("isolation_level string must be '', 'DEFERRED', "
                             "'IMMEDIATE', or 'EXCLUSIVE'")
        return level

    @property
    def isolation_level(self) -> Optional[str]:
        """None for autocommit, else the BEGIN mode of implicit transactions.
        Setting None commits a transaction that is open, as ``sqlite3``."""
        return self._isolation_level

    @isolation_level.setter
    def isolation_level(self, level: Optional[str]) -> None:
        level = self._check_level(level)
        if level is None:
            self.commit()
        self._isolation_level = level

    @property
    def in_transaction(self) -> bool:
        """True while a transaction is open."""
        return self._tx is not None

    @property
    def timeout(self) -> Optional[float]:
        """Each request's deadline in seconds (None: the daemon's)."""
        return None if self._timeout_ms is None else self._timeout_ms / 1000

    def _begin_mode(self) -> str:
        level = (self._isolation_level or "").upper()
        return "immediate" if level in ("IMMEDIATE", "EXCLUSIVE") else "deferred"

    # ----------------------------------------------------------------- public
    def cursor(self, factory: Type[Cursor] = Cursor) -> Cursor:
        """A new cursor (of @factory, a Cursor subclass)."""
        self._check()
        return factory(self)

    def execute(self, sql: str, parameters: Any = ()) -> Cursor:
        """``cursor().execute(sql, parameters)``."""
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, seq_of_parameters: Any) -> Cursor:
        """``cursor().executemany(sql, seq_of_parameters)``."""
        return self.cursor().executemany(sql, seq_of_parameters)

    def executescript(self, sql_script: str) -> Cursor:
        """``cursor().executescript(sql_script)``."""
        return self.cursor().executescript(sql_script)

    def begin_read_only(self) -> None:
        """Opens a read-only transaction (see the module doc): the
        daemon takes its snapshot before this returns. ``commit()`` and
        ``rollback()`` end it, as does leaving a ``with conn:`` block.
        Raises ``OperationalError`` when a transaction is already open."""
        self._check()
        if self._tx is not None:
            raise exc.OperationalError(
                "cannot start a transaction within a transaction",
                code=1, name="SQLITE_ERROR")
        self._begin({"read_only": True})

    def commit(self) -> None:
        """Commits the open transaction (durable when this returns); does
        nothing without one. The transaction is over even when this raises
        (a failed COMMIT rolls it back)."""
        self._check()
        if self._tx is None:
            return
        tx = self._tx
        self._end_tx()
        self._call("commit", [tx])

    def rollback(self) -> None:
        """Rolls back the open transaction; does nothing without one (nor
        when the daemon already rolled it back)."""
        self._check()
        if self._tx is None:
            return
        tx = self._tx
        self._end_tx()
        try:
            self._call("rollback", [tx])
        except exc.OperationalError as e:
            if e.sqlite_errorname != "SQLITED_TX_EXPIRED":
                raise

    def close(self) -> None:
        """Closes the connection without committing: the daemon rolls back
        a transaction left open. Idempotent."""
        if self._closed:
            return
        self._check_thread()
        self._closed = True
        self._wire.close()

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, exc_type: Any, exc_value: Any, tb: Any) -> bool:
        """Commits when the block succeeded, rolls back when it raised; the
        connection stays open (as ``sqlite3``)."""
        if exc_type is None:
            self.commit()
        else:
            self.rollback()
        return False

    def create_function(self, *args: Any, **kwargs: Any) -> None:
        """Not supported: SQL runs in the daemon, not in this process."""
        raise exc.NotSupportedError(
            "create_function: SQL runs in the sqlited daemon, which cannot "
            "call Python functions")

    def create_aggregate(self, *args: Any, **kwargs: Any) -> None:
        """Not supported, as ``create_function``."""
        self.create_function()

    def interrupt(self) -> None:
        """Not supported: give requests a deadline instead (``timeout``)."""
        raise exc.NotSupportedError("interrupt: use the timeout instead")

    # ----------------------------------------------------------- transactions
    def _end_tx(self) -> None:
        self._tx = None
        self._tx_by_savepoint = False
        self._savepoints = []

    def _begin(self, mode: Any) -> None:
        """Sends begin with @mode: "deferred", "immediate", or the
        options map of a read-only transaction."""
        tx = self._call("begin", [mode])
        if not isinstance(tx, int):
            raise exc.InterfaceError("begin answered %r" % (tx,),
                                     code=exc.EPROTO[0], name=exc.EPROTO[1])
        self._tx = tx

    def _control(self, ctl: sqlmod.Control, sql: str) -> None:
        """Runs transaction control written in SQL (see the module doc)."""
        def error(message: str) -> exc.OperationalError:
            return exc.OperationalError(message, code=1, name="SQLITE_ERROR")

        if ctl.kind == "begin":
            if self._tx is not None:
                raise error("cannot start a transaction within a transaction")
            self._begin(ctl.mode)
        elif ctl.kind == "commit":
            if self._tx is None:
                raise error("cannot commit - no transaction is active")
            self.commit()
        elif ctl.kind == "rollback":
            if self._tx is None:
                raise error("cannot rollback - no transaction is active")
            self.rollback()
        elif ctl.kind == "savepoint":
            began = self._tx is None
            if began:
                self._begin("deferred")
                self._tx_by_savepoint = True
            try:
                self._request("exec", [sql, None])
            except exc.Error:
                if began:
                    self.rollback()
                raise
            self._savepoints.append(ctl.name)
        else:  # release, rollback_to
            if self._tx is None or ctl.name not in self._savepoints:
                raise error("no such savepoint: %s" % ctl.name)
            self._request("exec", [sql, None])
            i = len(self._savepoints) - 1 - self._savepoints[::-1].index(ctl.name)
            if ctl.kind == "release":
                del self._savepoints[i:]
                if self._tx_by_savepoint and not self._savepoints:
                    self.commit()
            else:
                del self._savepoints[i + 1:]

    # ----------------------------------------------------------- busy_timeout
    @staticmethod
    def _is_busy_timeout(st: sqlmod.Statement) -> bool:
        return st.is_pragma and st.pragma_name == "busy_timeout"

    def _busy_timeout(self, st: sqlmod.Statement) -> dict:
        """``PRAGMA busy_timeout [= ms]``, answered here as SQLite answers
        it (one row, column ``timeout``): it reads or sets this
        connection's request deadline. 0 or less leaves the daemon's."""
        if st.has_value:
            m = _INTEGER.search(st.text)
            if m is None:
                raise exc.OperationalError(
                    "PRAGMA busy_timeout takes an integer (milliseconds)",
                    code=1, name="SQLITE_ERROR")
            ms = min(int(m.group(1)), 86_400_000)
            self._timeout_ms = ms if ms > 0 else None
        current = self._timeout_ms
        if current is None:
            current = self._daemon_timeout_ms
        return {"columns": ("timeout",), "rows": ((current,),)}

    # --------------------------------------------------------------- requests
    def _check(self) -> None:
        if self._closed:
            raise exc.ProgrammingError("Cannot operate on a closed database.")
        self._check_thread()

    def _check_thread(self) -> None:
        if self._check_same_thread and threading.get_ident() != self._thread:
            raise exc.ProgrammingError(
                "SQLite objects created in a thread can only be used in that "
                "same thread. The object was created in thread id %d and "
                "this is thread id %d." % (self._thread, threading.get_ident()))

    def _wait(self, timeout_ms: Optional[int]) -> Optional[float]:
        ms = timeout_ms if timeout_ms is not None else self._daemon_timeout_ms
        return None if ms <= 0 else ms / 1000 + DEADLINE_GRACE

    def _flush(self) -> None:
        """Ends the results that cursors dropped (see Cursor.__del__)."""
        while self._orphans:
            self._abandon(self._orphans.pop())

    def _abandon(self, fetch: int) -> None:
        """Forgets fetch @fetch; when its answer comes and rows remain, the
        daemon's cursor is closed (a close while a fetch on the same cursor
        is in flight would be refused)."""
        def then(error: Any, result: Any) -> None:
            if error is None and isinstance(result, dict) and result.get("cursor"):
                self._orphan_cursors.append(result["cursor"])
        self._wire.forget(fetch, then)

    def _call(self, method: str, params: list,
              timeout_ms: Optional[int] = None) -> Any:
        """Sends one request and waits for its result (raising its error)."""
        with self._lock:
            self._check()
            self._flush()
            while self._orphan_cursors:
                self._wire.forget(self._wire.send("close", [self._orphan_cursors.pop()]))
            msgid = self._wire.send(method, params)
            try:
                return self._wire.receive(msgid, self._wait(timeout_ms))
            except exc.OperationalError as e:
                if e.sqlite_errorname == "SQLITED_TX_EXPIRED" and self._tx is not None:
                    self._end_tx()  # the daemon ended it; begin again later
                raise

    def _request(self, method: str, params: list,
                 options: Optional[dict] = None) -> Any:
        """A query/exec/batch/bulk request with this connection's options
        (deadline, transaction) appended to @options."""
        options = dict(options or ())
        if self._timeout_ms is not None:
            options["timeout_ms"] = self._timeout_ms
        if self._tx is not None:
            options["tx"] = self._tx
        if options:
            params = params + [options]
        return self._call(method, params, self._timeout_ms)

    def _send_fetch(self, cursor: int) -> int:
        """Asks for the next chunk of daemon cursor @cursor; returns the
        msgid to collect it with ``_receive_fetch()``."""
        with self._lock:
            self._check()
            return self._wire.send("fetch", [cursor])

    def _receive_fetch(self, msgid: int) -> dict:
        with self._lock:
            self._check()
            result = self._wire.receive(msgid, self._wait(None))
            if not isinstance(result, dict):
                raise exc.InterfaceError("fetch answered %r" % (result,),
                                         code=exc.EPROTO[0], name=exc.EPROTO[1])
            return result

