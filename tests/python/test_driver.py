"""The DB-API driver against a real daemon: PEP 249, sqlite3's shape,
transactions, streaming, errors."""

from __future__ import annotations

import datetime
import threading
import time

import pytest

import sqlited
from sqlited import cursor as cursor_module


def stats(conn):
    return conn._call("stats", [])


# ------------------------------------------------------------------ module
def test_module_globals():
    assert sqlited.apilevel == "2.0"
    assert sqlited.threadsafety == 1
    assert sqlited.paramstyle == "qmark"
    for name in ("Warning", "Error", "InterfaceError", "DatabaseError",
                 "DataError", "OperationalError", "IntegrityError",
                 "InternalError", "ProgrammingError", "NotSupportedError"):
        assert hasattr(sqlited, name)
    assert issubclass(sqlited.IntegrityError, sqlited.DatabaseError)
    assert issubclass(sqlited.DatabaseError, sqlited.Error)
    assert issubclass(sqlited.InterfaceError, sqlited.Error)
    assert issubclass(sqlited.Error, Exception)
    assert sqlited.STRING == "TEXT" and sqlited.NUMBER == "INTEGER"
    assert sqlited.Binary(b"x") == b"x"
    assert sqlited.Date(2024, 1, 2) == datetime.date(2024, 1, 2)


def test_connect_through_environment(daemon, monkeypatch):
    monkeypatch.setenv("SQLITED_SOCKET", daemon.socket)
    c = sqlited.connect()
    assert c.execute("select 1").fetchone() == (1,)
    assert c.sqlite_version == sqlited.sqlite_version
    c.close()


def test_connect_to_nothing_is_operational_error(tmp_path):
    with pytest.raises(sqlited.OperationalError) as e:
        sqlited.connect(str(tmp_path / "none.sock"))
    assert e.value.sqlite_errorname == "SQLITED_ECLOSED"
    assert "cannot connect to sqlited at" in str(e.value)


# ------------------------------------------------------------------ values
def test_values_round_trip(conn):
    row = conn.execute("select ?, ?, ?, ?, ?, ?", (
        1, 2.5, "text é", b"\x00blob", None, True)).fetchone()
    assert row == (1, 2.5, "text é", b"\x00blob", None, 1)
    assert type(row) is tuple
    assert conn.execute("select ?", (bytearray(b"ab"),)).fetchone() == (b"ab",)
    assert conn.execute("select ?", (2**63 - 1,)).fetchone() == (2**63 - 1,)
    assert conn.execute("select 1.0").fetchone() == (1.0,)


def test_dates_bind_as_iso_text(conn):
    d = datetime.datetime(2024, 5, 6, 7, 8, 9)
    assert conn.execute("select ?, ?", (d, d.date())).fetchone() == (
        "2024-05-06 07:08:09", "2024-05-06")


def test_register_adapter(conn):
    class Point:
        def __init__(self, x, y):
            self.x, self.y = x, y
    sqlited.register_adapter(Point, lambda p: "%d;%d" % (p.x, p.y))
    assert conn.execute("select ?", (Point(1, 2),)).fetchone() == ("1;2",)


def test_unbindable_values(conn):
    with pytest.raises(OverflowError):
        conn.execute("select ?", (2**63,))
    with pytest.raises(sqlited.ProgrammingError) as e:
        conn.execute("select ?", (object(),))
    assert str(e.value) == "Error binding parameter 1: type 'object' is not supported"
    with pytest.raises(sqlited.ProgrammingError):
        conn.execute("select ?", "not a sequence")


# -------------------------------------------------------------- parameters
def test_qmark_and_named_parameters(conn):
    assert conn.execute("select ?2, ?1", (1, 2)).fetchone() == (2, 1)
    assert conn.execute("select :a, @b, $c", {"a": 1, "b": 2, "c": 3}).fetchone() == (1, 2, 3)
    # Extra keys are ignored, as in sqlite3.
    assert conn.execute("select :a", {"a": 1, "unused": 2}).fetchone() == (1,)
    assert conn.execute("select :a || ':b'", {"a": "x"}).fetchone() == ("x:b",)


def test_parameter_mismatch_is_programming_error(conn):
    with pytest.raises(sqlited.ProgrammingError) as e:
        conn.execute("select :a", {"b": 1})
    assert str(e.value) == "You did not supply a value for binding parameter :a."
    with pytest.raises(sqlited.ProgrammingError) as e:
        conn.execute("select ?", (1, 2))
    assert e.value.sqlite_errorname == "SQLITE_RANGE"


def test_one_statement_at_a_time(conn):
    with pytest.raises(sqlited.ProgrammingError) as e:
        conn.execute("select 1; select 2")
    assert str(e.value) == "You can only execute one statement at a time."
    # Semicolons in strings, names and comments do not count.
    assert conn.execute("select ';' as \"a;b\" -- ;\n;").fetchone() == (";",)
    assert conn.execute("  -- nothing\n").fetchone() is None


# ------------------------------------------------------------ cursor state
def test_description_rowcount_lastrowid(conn):
    cur = conn.cursor()
    cur.execute("create table t(id integer primary key, x)")
    assert cur.description is None and cur.rowcount == -1
    cur.execute("insert into t(x) values (1), (2)")
    assert cur.rowcount == 2 and cur.lastrowid == 2
    cur.execute("update t set x = x + 1")
    assert cur.rowcount == 2 and cur.lastrowid == 2
    cur.execute("select id as ident, x from t where 0")
    assert cur.description == (("ident", None, None, None, None, None, None),
                               ("x", None, None, None, None, None, None))
    assert cur.rowcount == -1 and cur.fetchall() == []
    cur.execute("delete from t where id = 1")
    assert cur.rowcount == 1
    assert cur.connection is conn


def test_fetch_methods_and_iteration(conn):
    conn.execute("create table t(x)")
    conn.executemany("insert into t values (?)", [(i,) for i in range(10)])
    cur = conn.execute("select x from t order by x")
    assert cur.fetchone() == (0,)
    assert cur.fetchmany() == [(1,)]
    cur.arraysize = 3
    assert cur.fetchmany() == [(2,), (3,), (4,)]
    assert cur.fetchmany(2) == [(5,), (6,)]
    assert [r for r in cur] == [(7,), (8,), (9,)]
    assert cur.fetchone() is None and cur.fetchall() == []


def test_row_factory(conn):
    conn.row_factory = sqlited.Row
    row = conn.execute("select 1 as a, 'x' as B").fetchone()
    assert isinstance(row, sqlited.Row)
    assert row["a"] == 1 and row["b"] == "x" and row["B"] == "x"
    assert row[0] == 1 and row[-1] == "x" and row[0:2] == (1, "x")
    assert row.keys() == ["a", "B"] and len(row) == 2
    assert dict(row) == {"a": 1, "B": "x"}
    assert tuple(row) == (1, "x")
    with pytest.raises(IndexError):
        row["nope"]
    assert row == conn.execute("select 1 as a, 'x' as B").fetchone()
    cur = conn.cursor()
    cur.row_factory = lambda c, r: {d[0]: v for d, v in zip(c.description, r)}
    assert cur.execute("select 2 as n").fetchone() == {"n": 2}


def test_text_factory(conn):
    conn.text_factory = bytes
    assert conn.execute("select 'abc'").fetchone() == (b"abc",)


def test_closed_cursor_and_connection(daemon):
    c = sqlited.connect(daemon.socket)
    cur = c.cursor()
    cur.close()
    with pytest.raises(sqlited.ProgrammingError, match="closed cursor"):
        cur.execute("select 1")
    c.close()
    c.close()
    with pytest.raises(sqlited.ProgrammingError, match="Cannot operate on a closed database."):
        c.execute("select 1")


# ------------------------------------------------------------ transactions
def test_dml_begins_a_transaction_commit_ends_it(daemon, conn):
    other = sqlited.connect(daemon.socket)
    conn.execute("create table t(x)")
    assert not conn.in_transaction
    conn.execute("insert into t values (1)")
    assert conn.in_transaction
    # Seen inside, not outside, until commit.
    assert conn.execute("select count(*) from t").fetchone() == (1,)
    assert other.execute("select count(*) from t").fetchone() == (0,)
    conn.commit()
    assert not conn.in_transaction
    assert other.execute("select count(*) from t").fetchone() == (1,)
    conn.execute("insert into t values (2)")
    conn.rollback()
    assert other.execute("select count(*) from t").fetchone() == (1,)
    conn.commit()
    conn.rollback()  # nothing open: no-ops
    other.close()


def test_autocommit(daemon):
    c = sqlited.connect(daemon.socket, isolation_level=None)
    other = sqlited.connect(daemon.socket)
    c.execute("create table t(x)")
    c.execute("insert into t values (1)")
    assert not c.in_transaction
    assert other.execute("select count(*) from t").fetchone() == (1,)
    c.close()
    other.close()


def test_setting_isolation_level_none_commits(daemon, conn):
    conn.execute("create table t(x)")
    conn.execute("insert into t values (1)")
    conn.isolation_level = None
    assert not conn.in_transaction
    other = sqlited.connect(daemon.socket)
    assert other.execute("select count(*) from t").fetchone() == (1,)
    other.close()
    with pytest.raises(ValueError):
        conn.isolation_level = "SOMETIMES"


def test_context_manager_commits_or_rolls_back(conn):
    conn.execute("create table t(x unique)")
    with conn:
        conn.execute("insert into t values (1)")
    assert not conn.in_transaction
    with pytest.raises(sqlited.IntegrityError):
        with conn:
            conn.execute("insert into t values (2)")
            conn.execute("insert into t values (1)")
    assert conn.execute("select x from t").fetchall() == [(1,)]
    conn.execute("select 1")  # still open


def test_read_only_transaction_reads_one_snapshot(daemon, conn):
    other = sqlited.connect(daemon.socket, isolation_level=None)
    other.execute("create table t(x)")
    other.execute("insert into t values (1)")
    conn.begin_read_only()
    assert conn.in_transaction
    # Committed after the begin: not seen inside, and not waiting for it.
    other.execute("insert into t values (2)")
    assert conn.execute("select count(*) from t").fetchone() == (1,)
    with pytest.raises(sqlited.OperationalError) as e:
        conn.execute("insert into t values (3)")
    assert e.value.sqlite_errorname == "SQLITE_READONLY"
    assert "is read-only" in str(e.value)
    assert conn.in_transaction
    with pytest.raises(sqlited.OperationalError,
                       match="cannot start a transaction within a transaction"):
        conn.begin_read_only()
    conn.commit()
    assert not conn.in_transaction
    assert conn.execute("select count(*) from t").fetchone() == (2,)
    other.close()


def test_transaction_control_in_sql(daemon, conn):
    conn.isolation_level = None
    conn.execute("create table t(x)")
    conn.execute("BEGIN IMMEDIATE")
    assert conn.in_transaction
    conn.execute("insert into t values (1)")
    with pytest.raises(sqlited.OperationalError,
                       match="cannot start a transaction within a transaction"):
        conn.execute("begin")
    conn.execute("END TRANSACTION")
    assert not conn.in_transaction
    conn.execute("begin")
    conn.execute("insert into t values (2)")
    conn.execute("rollback")
    assert conn.execute("select x from t").fetchall() == [(1,)]
    with pytest.raises(sqlited.OperationalError) as e:
        conn.execute("commit")
    assert str(e.value) == "cannot commit - no transaction is active"
    assert e.value.sqlite_errorname == "SQLITE_ERROR"
    with pytest.raises(sqlited.OperationalError,
                       match="cannot rollback - no transaction is active"):
        conn.execute("rollback")


def test_transaction_expired_by_the_daemon(make_daemon):
    d = make_daemon("--tx-idle-timeout", "200")
    c = sqlited.connect(d.socket)
    c.execute("create table t(x)")
    c.execute("insert into t values (1)")
    # Wait for the daemon to expire it, asking a fresh connection.
    watcher = sqlited.connect(d.socket)
    deadline = time.monotonic() + 30
    while stats(watcher)["tx_expired"] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    watcher.close()
    with pytest.raises(sqlited.OperationalError) as e:
        c.execute("insert into t values (2)")
    assert e.value.sqlite_errorname == "SQLITED_TX_EXPIRED"
    assert not c.in_transaction
    c.execute("insert into t values (3)")
    c.commit()
    assert c.execute("select x from t").fetchall() == [(3,)]
    c.close()


# ---------------------------------------------------------------- many
def test_executemany_is_one_atomic_bulk(conn):
    conn.execute("create table t(id integer primary key, x unique)")
    cur = conn.executemany("insert into t(x) values (:x)",
                           ({"x": i, "other": 0} for i in range(100)))
    assert cur.rowcount == 100 and cur.lastrowid == 100
    conn.commit()
    with pytest.raises(sqlited.IntegrityError) as e:
        conn.executemany("insert into t(x) values (?)", [(1000,), (5,)])
    assert str(e.value).startswith("step 1: UNIQUE constraint failed")
    conn.rollback()
    assert conn.execute("select count(*) from t").fetchone() == (100,)
    assert conn.executemany("insert into t(x) values (?)", []).rowcount == 0
    with pytest.raises(sqlited.ProgrammingError,
                       match="executemany\\(\\) can only execute DML statements."):
        conn.executemany("select ?", [(1,)])


def test_executemany_beyond_one_request_stays_atomic(daemon, monkeypatch):
    monkeypatch.setattr(cursor_module, "BULK_SETS", 10)
    c = sqlited.connect(daemon.socket, isolation_level=None)
    c.execute("create table t(x unique)")
    with pytest.raises(sqlited.IntegrityError):
        c.executemany("insert into t values (?)", [(i % 25,) for i in range(30)])
    assert not c.in_transaction
    assert c.execute("select count(*) from t").fetchone() == (0,)
    c.executemany("insert into t values (?)", [(i,) for i in range(25)])
    assert c.execute("select count(*) from t").fetchone() == (25,)
    c.close()


def test_executescript(conn):
    conn.execute("create table log(x)")
    conn.execute("insert into log values ('pending')")
    cur = conn.executescript("""
        create table a(id integer primary key, v text default ';');
        create trigger a_log after insert on a begin
            insert into log values (case when new.v = ';' then 'semi' else new.v end);
        end;
        insert into a(id) values (1);
    """)
    assert not conn.in_transaction  # the open transaction was committed first
    assert cur.description is None
    assert conn.execute("select x from log order by rowid").fetchall() == [
        ("pending",), ("semi",)]
    # A failing script applies nothing of itself.
    with pytest.raises(sqlited.OperationalError):
        conn.executescript("insert into a(id) values (2); insert into nowhere values (1);")
    assert conn.execute("select count(*) from a").fetchone() == (1,)
    # Its own transaction control is honoured.
    conn.executescript("begin; insert into a(id) values (3); commit;")
    assert conn.execute("select count(*) from a").fetchone() == (2,)
    # A statement ending in a line comment still ends where its ';' is.
    conn.executescript("insert into a(id) values (4) -- four\n;"
                       "insert into a(id) values (5)")
    assert conn.execute("select count(*) from a").fetchone() == (4,)


# -------------------------------------------------------------- streaming
def test_large_result_streams_with_one_fetch_ahead(make_daemon):
    d = make_daemon("--chunk-rows", "100")
    c = sqlited.connect(d.socket, isolation_level=None)
    c.execute("create table t(x)")
    c.execute("with recursive n(i) as (select 1 union all select i + 1 from n "
              "where i < 10000) insert into t select i from n")
    cur = c.execute("select x from t order by x")
    total = 0
    for i, (x,) in enumerate(cur, 1):
        assert x == i
        total += 1
        # Bounded: the chunk being read, and at most one more on its way.
        assert len(cur._rows) <= 100
        assert len(c._wire._answers) <= 1
        if i % 1000 == 0:
            # Other statements may come between two rows.
            c.execute("insert into t values (-1)")
    assert total == 10000
    assert stats(c)["cursors_open"] == 0
    c.close()


def test_fetch_error_after_the_chunk_fetched_ahead(make_daemon):
    # The daemon expires the cursor while the application holds the first
    # chunk. The second was fetched ahead when the first came, so its rows
    # still arrive; the fetch sent when they do fails, and the error comes
    # after them, where the third chunk would have begun.
    d = make_daemon("--chunk-rows", "10", "--cursor-idle-timeout", "200")
    c = sqlited.connect(d.socket, isolation_level=None)
    cur = c.execute("with recursive n(i) as (select 1 union all select i + 1 "
                    "from n where i < 100) select i from n")
    assert cur.fetchmany(5) == [(i,) for i in range(1, 6)]
    deadline = time.monotonic() + 10
    while stats(c)["cursors_expired"] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stats(c)["cursors_expired"] == 1
    assert cur.fetchmany(15) == [(i,) for i in range(6, 21)]
    with pytest.raises(sqlited.OperationalError) as e:
        cur.fetchone()
    assert e.value.sqlite_errorname == "SQLITED_CURSOR_EXPIRED"
    assert "no fetch came for 200 ms" in str(e.value)
    # The connection goes on.
    assert c.execute("select 7").fetchone() == (7,)
    c.close()


def test_abandoned_mid_way_then_other_requests(make_daemon):
    # A result left half-read, with its fetch ahead in flight or answered,
    # then other statements on the same connection: each gets its own
    # answer, and the daemon's cursor is closed.
    d = make_daemon("--chunk-rows", "10")
    c = sqlited.connect(d.socket, isolation_level=None)
    for n in range(20):
        cur = c.execute("with recursive n(i) as (select 1 union all select "
                        "i + 1 from n where i < 100) select i from n")
        assert cur.fetchmany(3 + n) == [(i,) for i in range(1, 4 + n)]
        if n % 2:
            cur.close()
        else:
            cur.execute("select 5")
            assert cur.fetchall() == [(5,)]
        assert c.execute("select 6").fetchone() == (6,)
    deadline = time.monotonic() + 10
    while stats(c)["cursors_open"] != 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stats(c)["cursors_open"] == 0
    assert stats(c)["cursors_expired"] == 0
    c.close()


def test_dropped_results_close_their_daemon_cursors(make_daemon):
    d = make_daemon("--chunk-rows", "10")
    c = sqlited.connect(d.socket)
    c.execute("create table t(x)")
    c.executemany("insert into t values (?)", [(i,) for i in range(100)])
    c.commit()
    # More than the 8 cursors a connection may hold, each left unfinished:
    # re-executed, closed, or dropped.
    cur = c.cursor()
    for _ in range(12):
        assert cur.execute("select x from t").fetchone() == (0,)
    for _ in range(12):
        other = c.execute("select x from t")
        other.fetchone()
        other.close()
    for _ in range(12):
        c.execute("select x from t").fetchone()
    cur.close()
    c.execute("select 1")
    deadline = time.monotonic() + 10
    while stats(c)["cursors_open"] != 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stats(c)["cursors_open"] == 0
    c.close()


# ------------------------------------------------------------------ errors
def test_errors_map_like_sqlite3(conn):
    conn.execute("create table t(x unique not null)")
    cases = [
        ("selec 1", sqlited.OperationalError, 1, "SQLITE_ERROR", 'near "selec": syntax error'),
        ("select * from nowhere", sqlited.OperationalError, 1, "SQLITE_ERROR", "no such table: nowhere"),
        ("insert into t values (null)", sqlited.IntegrityError, 1299,
         "SQLITE_CONSTRAINT_NOTNULL", "NOT NULL constraint failed: t.x"),
        ("attach 'x.db' as x", sqlited.DatabaseError, 23, "SQLITE_AUTH", None),
    ]
    for sql, cls, code, name, message in cases:
        with pytest.raises(cls) as e:
            conn.execute(sql)
        assert type(e.value) is cls, sql
        assert e.value.sqlite_errorcode == code, sql
        assert e.value.sqlite_errorname == name, sql
        if message:
            assert str(e.value) == message


def test_deadline_is_operational_error(daemon):
    c = sqlited.connect(daemon.socket, timeout=0.2)
    assert c.timeout == 0.2
    slow = ("with recursive c(x) as (select 1 union all select x + 1 from c "
            "where x < 1000000000) select count(*) from c")
    with pytest.raises(sqlited.OperationalError) as e:
        c.execute(slow).fetchall()
    assert e.value.sqlite_errorname == "SQLITED_TIMEOUT"
    assert c.execute("select 1").fetchone() == (1,)
    c.close()


def test_busy_timeout_pragma_sets_the_deadline(conn):
    cur = conn.execute("PRAGMA busy_timeout")
    assert cur.description[0][0] == "timeout"
    assert cur.fetchall() == [(5000,)]
    assert conn.execute("PRAGMA busy_timeout = 250").fetchall() == [(250,)]
    assert conn.timeout == 0.25
    assert conn.execute("pragma main.busy_timeout(1500)").fetchall() == [(1500,)]
    assert conn.timeout == 1.5


def test_lost_connection_is_reported_never_retried(daemon):
    c = sqlited.connect(daemon.socket, isolation_level=None)
    c.execute("create table t(x)")
    daemon.stop()
    with pytest.raises(sqlited.OperationalError) as e:
        c.execute("insert into t values (1)")
    assert e.value.sqlite_errorname == "SQLITED_ECLOSED"
    daemon.start()
    # The connection stays broken; nothing was sent again.
    with pytest.raises(sqlited.OperationalError) as e:
        c.execute("insert into t values (2)")
    assert e.value.sqlite_errorname == "SQLITED_ECLOSED"
    c.close()
    fresh = sqlited.connect(daemon.socket)
    assert fresh.execute("select count(*) from t").fetchone() == (0,)
    fresh.close()


def test_unsupported_features_say_so(daemon, conn):
    with pytest.raises(sqlited.NotSupportedError):
        conn.create_function("f", 1, lambda x: x)


# ----------------------------------------------------------------- threads
def test_check_same_thread(daemon):
    c = sqlited.connect(daemon.socket)
    errors = []
    t = threading.Thread(target=lambda: errors.append(_try(c)))
    t.start()
    t.join()
    assert isinstance(errors[0], sqlited.ProgrammingError)
    shared = sqlited.connect(daemon.socket, check_same_thread=False)
    results = []
    t = threading.Thread(target=lambda: results.append(
        shared.execute("select 7").fetchone()))
    t.start()
    t.join()
    assert results == [(7,)]
    c.close()
    shared.close()


def _try(c):
    try:
        c.execute("select 1")
    except Exception as e:  # noqa: BLE001 - the test looks at its type
        return e
    return None


def test_schema_pragmas_see_new_tables(make_daemon):
    # Schema pragmas are sent as query: the reader (one, so the same each
    # time) must see tables created after it last read the schema.
    c = sqlited.connect(make_daemon("--readers", "1").socket)
    c.execute("create table p(id integer primary key)")
    fks = 'PRAGMA main.foreign_key_list("q")'
    assert c.execute(fks).fetchall() == []
    c.execute("create table q(x integer references p(id))")
    for _ in range(3):
        assert [r[2:4] for r in c.execute(fks)] == [("p", "x")]
    c.execute("create unique index qx on q(x)")
    for _ in range(3):
        assert [r[2] for r in c.execute('PRAGMA index_info("qx")')] == ["x"]
    c.close()


# ------------------------ the daemon side of issue 13 (sec-sql's change)
def test_compatible_pragmas_succeed(conn):
    assert conn.execute("PRAGMA journal_mode=WAL").fetchall() == [("wal",)]
    conn.execute("PRAGMA temp_store=MEMORY")
    conn.execute("PRAGMA foreign_keys = ON")
    assert conn.execute("PRAGMA foreign_keys").fetchall() == [(1,)]


@pytest.mark.parametrize("pragma, flag", [
    ("PRAGMA synchronous = NORMAL", "--synchronous"),
    ("PRAGMA cache_size = -64000", "--cache-size"),
    ("PRAGMA mmap_size = 268435456", "--mmap-size"),
    ("PRAGMA journal_mode = DELETE", "journal_mode"),
])
def test_daemon_owned_pragmas_name_the_flag(conn, pragma, flag):
    with pytest.raises(sqlited.DatabaseError) as e:
        conn.execute(pragma)
    assert e.value.sqlite_errorname == "SQLITE_AUTH"
    assert flag in str(e.value)


def test_savepoints_inside_a_transaction(daemon, conn):
    conn.execute("create table t(x)")
    conn.commit()
    conn.execute("insert into t values (1)")
    conn.execute("SAVEPOINT a")
    conn.execute("insert into t values (2)")
    conn.execute("ROLLBACK TO a")
    conn.execute("insert into t values (3)")
    conn.execute("RELEASE SAVEPOINT a")
    assert conn.in_transaction
    conn.commit()
    assert conn.execute("select x from t order by x").fetchall() == [(1,), (3,)]
    # A SAVEPOINT outside a transaction begins one; releasing it commits.
    conn.isolation_level = None
    conn.execute("savepoint outer_sp")
    assert conn.in_transaction
    conn.execute("insert into t values (4)")
    conn.execute("release outer_sp")
    assert not conn.in_transaction
    other = sqlited.connect(daemon.socket)
    assert other.execute("select count(*) from t").fetchone() == (3,)
    other.close()
    with pytest.raises(sqlited.OperationalError, match="no such savepoint: nope"):
        conn.execute("release nope")


def test_a_daemon_that_stops_answering_breaks_the_connection(daemon, monkeypatch):
    import signal
    from sqlited import connection as connection_module
    monkeypatch.setattr(connection_module, "DEADLINE_GRACE", 0.5)
    c = sqlited.connect(daemon.socket, timeout=0.2, isolation_level=None)
    c.execute("create table t(x)")
    daemon.proc.send_signal(signal.SIGSTOP)
    try:
        with pytest.raises(sqlited.OperationalError) as e:
            c.execute("insert into t values (1)")
    finally:
        daemon.proc.send_signal(signal.SIGCONT)
    assert e.value.sqlite_errorname == "SQLITED_ECLOSED"
    assert "whether the request was applied is unknown" in str(e.value)
    with pytest.raises(sqlited.OperationalError):
        c.execute("select 1")
    c.close()


def test_a_lock_held_by_another_process_is_busy(daemon):
    # The seed's retry_on_lock looks for "locked" in an OperationalError.
    import sqlite3
    c = sqlited.connect(daemon.socket, timeout=0.5, isolation_level=None)
    c.execute("create table t(x)")
    other = sqlite3.connect(daemon.database, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlited.OperationalError) as e:
        c.execute("insert into t values (1)")
    assert e.value.sqlite_errorcode == 5
    assert e.value.sqlite_errorname == "SQLITE_BUSY"
    assert "locked" in str(e.value)
    other.execute("ROLLBACK")
    other.close()
    c.execute("insert into t values (2)")
    assert c.execute("select x from t").fetchall() == [(2,)]
    c.close()


def test_memory_stays_bounded_whatever_the_result_size(conn):
    # 200,000 rows of ~200 bytes (about 40 MB of result) read through
    # 1,000-row chunks: the driver never holds more than two chunks.
    import tracemalloc
    cur = conn.execute("with recursive n(i) as (select 1 union all select i + 1 "
                       "from n where i < 200000) select i, hex(randomblob(96)) from n")
    tracemalloc.start()
    try:
        count = 0
        for i, blob in cur:
            count += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 200000 and i == 200000 and len(blob) == 192
    assert peak < 4 * 1024 * 1024, peak
