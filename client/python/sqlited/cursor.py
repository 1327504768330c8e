"""Cursors: run statements, and stream their rows as the application reads.

A query's first chunk comes in its answer; when more rows remain, the
daemon keeps a cursor on them (protocol/PROTOCOL.md, "Large results"). The
driver asks for the next chunk as soon as a chunk arrives, so that it is on
its way while the application works through the current one, and keeps one
``fetch`` in flight per cursor: at most two chunks of a result are in memory
at once, whatever its size. Reading a result to its end, executing another
statement on the cursor, closing it, or dropping it ends the daemon's cursor.
"""

from __future__ import annotations

from typing import (TYPE_CHECKING, Any, Callable, Dict, Iterable, Iterator,
                    List, Optional, Tuple)

from . import exceptions as exc
from . import sql as sqlmod
from .types import PARSE_DECLTYPES, bind, column_name, converter_for, to_bytes

if TYPE_CHECKING:
    from .connection import Connection

#: Parameter sets sent in one ``bulk`` request by ``executemany()``.
BULK_SETS = 5000

Description = Tuple[Tuple[str, None, None, None, None, None, None], ...]


class Cursor:
    """A PEP 249 cursor, as ``sqlite3.Cursor``.

    Not safe to share between threads (see ``Connection``). ``description``
    names the columns of the last statement that returns rows (type codes
    are None, as in ``sqlite3``; with ``PARSE_COLNAMES``, a name is cut
    before `` [type]``); values are converted as the connection's
    ``detect_types`` says; ``rowcount`` is the number of rows an
    INSERT, UPDATE, DELETE or REPLACE changed (summed over
    ``executemany()``), -1 for other statements; ``lastrowid`` the rowid of
    the last row an INSERT or REPLACE of this cursor inserted."""

    def __init__(self, connection: "Connection") -> None:
        self.connection = connection
        self.row_factory: Optional[Callable[["Cursor", tuple], Any]] = \
            connection.row_factory
        self.arraysize = 1
        self.description: Optional[Description] = None
        self.rowcount = -1
        self.lastrowid: Optional[int] = None
        self._rows: Tuple[tuple, ...] = ()
        self._pos = 0
        self._fetch: Optional[int] = None  # msgid of the fetch in flight
        self._closed = False
        self._names: Optional[Tuple[Tuple[str, ...], Dict[str, int]]] = None
        #: The converter of each column (detect_types), or None: none.
        self._converters: Optional[Tuple[Optional[Callable[[bytes], Any]], ...]] = None

    # ------------------------------------------------------------- executing
    def execute(self, sql: str, parameters: Any = ()) -> "Cursor":
        """Runs one statement with @parameters (a sequence for ``?``, a
        mapping for ``:name``; extra keys ignored). With the connection's
        ``isolation_level`` not None, an INSERT, UPDATE, DELETE or REPLACE
        first begins a transaction, ended by ``commit()``/``rollback()``.
        Returns the cursor."""
        self._start()
        st = self._one(sql)
        if st is None:
            return self
        params = bind(st.names, parameters)
        self._run(st, sql, params)
        return self

    def executemany(self, sql: str, seq_of_parameters: Iterable[Any]) -> "Cursor":
        """Runs one data-changing statement once per parameter set, through
        the daemon's ``bulk`` (prepared once, sets sent in batches of
        ``BULK_SETS``). All or nothing: when the sets do not fit one
        request and no transaction is open, they run in one."""
        self._start()
        st = self._one(sql)
        if st is None:
            return self
        if st.reads or sqlmod.control(st) is not None:
            raise exc.ProgrammingError(
                "executemany() can only execute DML statements.")
        conn = self.connection
        self.rowcount = 0 if st.is_dml else -1
        batch: List[Any] = []
        own_tx = False
        try:
            for parameters in seq_of_parameters:
                batch.append(bind(st.names, parameters) or [])
                if len(batch) == BULK_SETS:
                    if conn._tx is None and not own_tx and (
                            conn.isolation_level is None or not st.is_dml):
                        conn._begin("deferred")
                        own_tx = True
                    self._bulk(st, sql, batch)
                    batch = []
            if batch:
                self._bulk(st, sql, batch)
            if own_tx:
                own_tx = False
                conn.commit()
        finally:
            if own_tx:
                conn.rollback()
        return self

    def _bulk(self, st: sqlmod.Statement, sql: str, sets: List[Any]) -> None:
        conn = self.connection
        if st.is_dml and conn.isolation_level is not None and conn._tx is None:
            conn._begin(conn._begin_mode())
        result = conn._request("bulk", [sql, sets])
        if st.is_dml:
            self.rowcount += result.get("changes", 0)
            if st.keyword in ("INSERT", "REPLACE"):
                self.lastrowid = result.get("last_insert_rowid", self.lastrowid)

    def executescript(self, sql_script: str) -> "Cursor":
        """Runs a script of statements. As in ``sqlite3``, a transaction
        that is open is committed first. The statements between the
        script's own transaction control (BEGIN, COMMIT, SAVEPOINT, ...) go
        in one ``exec`` each, which the daemon applies all or nothing."""
        self._start()
        if not isinstance(sql_script, str):
            raise ValueError("script argument must be unicode.")
        conn = self.connection
        conn.commit()
        pending: List[str] = []

        def flush() -> None:
            if pending:
                conn._request("exec", ["\n;\n".join(pending), None])
                pending.clear()

        for st in sqlmod.split(sql_script):
            if sqlmod.control(st) is not None or conn._is_busy_timeout(st):
                flush()
                self._run(st, st.text, None)
                self._end()
            else:
                pending.append(st.text)
        flush()
        return self

    def _run(self, st: sqlmod.Statement, sql: str, params: Any) -> None:
        conn = self.connection
        ctl = sqlmod.control(st)
        if ctl is not None:
            conn._control(ctl, sql)
            return
        if conn._is_busy_timeout(st):
            self._take(conn._busy_timeout(st), st)
            return
        if st.is_dml and conn.isolation_level is not None and conn._tx is None:
            conn._begin(conn._begin_mode())
        method = "query" if st.reads else "exec"
        options = None
        if method == "query" and conn._detect_types & PARSE_DECLTYPES:
            options = {"decltypes": True}
        self._take(conn._request(method, [sql, params], options), st)

    def _one(self, sql: str) -> Optional[sqlmod.Statement]:
        if not isinstance(sql, str):
            raise TypeError("execute() argument 1 must be str, not %s"
                            % type(sql).__name__)
        statements = sqlmod.split(sql)
        if len(statements) > 1:
            raise exc.ProgrammingError(
                "You can only execute one statement at a time.")
        return statements[0] if statements else None

    def _start(self) -> None:
        self._check()
        self._end()
        self.description = None
        self.rowcount = -1
        self._names = None
        self._converters = None

    def _take(self, result: Any, st: sqlmod.Statement) -> None:
        if not isinstance(result, dict):
            return
        columns = result.get("columns")
        if columns is not None:
            detect = self.connection._detect_types
            self.description = tuple(
                (column_name(c, detect) if isinstance(c, str) else str(c),
                 None, None, None, None, None, None) for c in columns)
            if detect:
                decltypes = result.get("decltypes") or ()
                convs = tuple(
                    converter_for(c, decltypes[i] if i < len(decltypes) else None,
                                  detect) for i, c in enumerate(columns))
                if any(convs):
                    self._converters = convs
        self._rows = result.get("rows") or ()
        self._pos = 0
        cursor = result.get("cursor")
        if cursor:
            self._fetch = self.connection._send_fetch(cursor)
        if st.is_dml and "changes" in result:
            self.rowcount = result["changes"]
        if st.keyword in ("INSERT", "REPLACE") and "last_insert_rowid" in result:
            self.lastrowid = result["last_insert_rowid"]

    # -------------------------------------------------------------- fetching
    def _next(self) -> Optional[tuple]:
        while self._pos >= len(self._rows):
            if self._fetch is None:
                return None
            msgid, self._fetch = self._fetch, None
            self._rows = ()
            self._pos = 0
            result = self.connection._receive_fetch(msgid)
            self._rows = result.get("rows") or ()
            cursor = result.get("cursor")
            if cursor:
                self._fetch = self.connection._send_fetch(cursor)
        row = self._rows[self._pos]
        self._pos += 1
        return row

    def _make(self, row: tuple) -> Any:
        tf = self.connection.text_factory
        convs = self._converters
        if convs is not None:
            row = tuple(
                v if v is None else
                c(to_bytes(v)) if c is not None else
                tf(v.encode()) if tf is not str and isinstance(v, str) else v
                for c, v in zip(convs, row))
        elif tf is not str:
            row = tuple(tf(v.encode()) if isinstance(v, str) else v for v in row)
        if self.row_factory is not None:
            return self.row_factory(self, row)
        return row

    def fetchone(self) -> Any:
        """The next row, or None after the last."""
        self._check()
        row = self._next()
        return None if row is None else self._make(row)

    def fetchmany(self, size: Optional[int] = None) -> List[Any]:
        """Up to @size rows (default ``arraysize``); fewer at the end."""
        self._check()
        n = self.arraysize if size is None else size
        out = []
        while len(out) < n:
            row = self._next()
            if row is None:
                break
            out.append(self._make(row))
        return out

    def fetchall(self) -> List[Any]:
        """Every remaining row (fetched chunk after chunk)."""
        self._check()
        out = []
        while True:
            row = self._next()
            if row is None:
                return out
            out.append(self._make(row))

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        row = self.fetchone()
        if row is None:
            raise StopIteration
        return row

    def _row_names(self) -> Tuple[Tuple[str, ...], Dict[str, int]]:
        """Column names and a case-insensitive index of them, for ``Row``."""
        if self._names is None:
            names = tuple(d[0] for d in self.description or ())
            index: Dict[str, int] = {}
            for i, n in enumerate(names):
                index.setdefault(n.lower(), i)
            self._names = (names, index)
        return self._names

    # ---------------------------------------------------------------- ending
    def _end(self) -> None:
        """Drops the rest of the current result: the fetch in flight is
        forgotten and the daemon's cursor closed when its answer comes."""
        self._rows = ()
        self._pos = 0
        if self._fetch is not None:
            msgid, self._fetch = self._fetch, None
            self.connection._abandon(msgid)

    def close(self) -> None:
        """Closes the cursor (and the rest of its result); idempotent."""
        if not self._closed:
            if not self.connection._closed:
                self._end()
            self._closed = True

    def __del__(self) -> None:
        # May run anywhere, even inside the wire's own code: only hand the
        # fetch in flight over to the connection, which ends it later.
        fetch = getattr(self, "_fetch", None)
        if fetch is not None:
            self.connection._orphans.append(fetch)

    def _check(self) -> None:
        if self._closed:
            raise exc.ProgrammingError("Cannot operate on a closed cursor.")
        self.connection._check()

    # ------------------------------------------------------------ no-ops
    def setinputsizes(self, sizes: Any) -> None:
        """PEP 249; does nothing."""

    def setoutputsize(self, size: Any, column: Any = None) -> None:
        """PEP 249; does nothing."""
