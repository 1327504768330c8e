"""detect_types, converters and adapters, as Python 3.11's sqlite3: each
result is compared with what sqlite3 gives for the same schema and query."""

from __future__ import annotations

import datetime
import sqlite3

import pytest

import sqlited
from sqlited import types as types_module

BOTH = sqlited.PARSE_DECLTYPES | sqlited.PARSE_COLNAMES


class Point:
    def __init__(self, x: float, y: float) -> None:
        self.x, self.y = x, y

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and (self.x, self.y) == (other.x, other.y)

    def __repr__(self) -> str:
        return "Point(%r, %r)" % (self.x, self.y)


def point_from(b: bytes) -> Point:
    assert isinstance(b, bytes)  # converters receive bytes, as in sqlite3
    x, y = b.split(b";")
    return Point(float(x), float(y))


@pytest.fixture(autouse=True)
def registries(monkeypatch):
    """Registrations of a test are undone after it, in both modules."""
    monkeypatch.setattr(types_module, "_converters", dict(types_module._converters))
    monkeypatch.setattr(types_module, "_adapters", dict(types_module._adapters))
    for mod in (sqlited, sqlite3):
        mod.register_converter("point", point_from)
        mod.register_converter("Raw", lambda b: ("raw", b))
        mod.register_adapter(Point, lambda p: "%s;%s" % (p.x, p.y))
    yield
    sqlite3.converters.pop("POINT", None)
    sqlite3.converters.pop("RAW", None)
    sqlite3.adapters.pop((Point, sqlite3.PrepareProtocol), None)


SCHEMA = ("create table t(id integer primary key, ts timestamp, d DATE, "
          "p Point(2, 2), r raw, n)")
ROW = (1, datetime.datetime(2026, 12, 3, 14, 5, 6, 789000),
       datetime.date(2026, 12, 3), Point(1.5, -2.0), 42, "x")


def both(daemon, detect_types, setup, sql, params=()):
    """(rows, description names) of @sql from sqlited and from sqlite3."""
    out = []
    conns = (sqlited.connect(daemon.socket, detect_types=detect_types),
             sqlite3.connect(":memory:", detect_types=detect_types))
    for c in conns:
        c.execute("drop table if exists t")
        for s, p in setup:
            c.execute(s, p)
        c.commit()
        cur = c.execute(sql, params)
        out.append((cur.fetchall(), [d[0] for d in cur.description]))
        c.close()
    return out


def test_declared_types_converted(daemon):
    setup = [(SCHEMA, ()), ("insert into t values (?, ?, ?, ?, ?, ?)", ROW),
             ("insert into t(id) values (2)", ())]
    got, want = both(daemon, sqlited.PARSE_DECLTYPES, setup,
                     "select id, ts, d, p, r, n, ts || '' as e from t order by id")
    assert got == want
    rows, names = got
    assert rows[0][:6] == ROW[:4] + (("raw", b"42"), "x")
    assert rows[0][6] == "2026-12-03 14:05:06.789000"  # an expression
    assert rows[1] == (2, None, None, None, None, None, None)
    assert names == ["id", "ts", "d", "p", "r", "n", "e"]


def test_no_detect_types_no_conversion(daemon):
    setup = [(SCHEMA, ()), ("insert into t values (?, ?, ?, ?, ?, ?)", ROW)]
    got, want = both(daemon, 0, setup, 'select ts, p, ts as "x [timestamp]" from t')
    assert got == want
    assert got == ([("2026-12-03 14:05:06.789000", "1.5;-2.0",
                     "2026-12-03 14:05:06.789000")],
                   ["ts", "p", "x [timestamp]"])


def test_column_names_with_types(daemon):
    setup = [(SCHEMA, ()), ("insert into t values (?, ?, ?, ?, ?, ?)", ROW)]
    sql = ('select ts as "a [raw]", \'2024-01-02\' as "b [date]", '
           'id as "c[raw] x", n as "d [nothing]", p as "e" from t')
    for detect in (sqlited.PARSE_COLNAMES, BOTH):
        got, want = both(daemon, detect, setup, sql)
        assert got == want
        rows, names = got
        assert names == ["a", "b", "c", "d", "e"]
        # PARSE_COLNAMES takes precedence over the declared type.
        assert rows[0][:4] == (("raw", b"2026-12-03 14:05:06.789000"),
                               datetime.date(2024, 1, 2), ("raw", b"1"), "x")
        assert rows[0][4] == (Point(1.5, -2.0) if detect == BOTH else "1.5;-2.0")


def test_adapters_for_parameters(daemon):
    c = sqlited.connect(daemon.socket, detect_types=BOTH)
    c.execute("create table pts(p point, at timestamp, on_ date)")
    when = datetime.datetime(2020, 2, 29, 23, 59, 59)
    c.execute("insert into pts values (?, ?, ?)",
              (Point(3, 4), when, datetime.date(2020, 2, 29)))
    c.execute("insert into pts values (:p, :w, null)", {"p": Point(0, 0), "w": when})
    c.commit()
    assert c.execute("select * from pts").fetchall() == [
        (Point(3, 4), when, datetime.date(2020, 2, 29)),
        (Point(0, 0), when, None)]
    raw = sqlited.connect(daemon.socket)
    assert raw.execute("select * from pts").fetchone() == (
        "3;4", "2020-02-29 23:59:59", "2020-02-29")
    c.close()
    raw.close()


def test_decltypes_asked_only_with_parse_decltypes(daemon, monkeypatch):
    sent = []
    for detect, asked in ((0, False), (sqlited.PARSE_COLNAMES, False),
                          (sqlited.PARSE_DECLTYPES, True)):
        c = sqlited.connect(daemon.socket, detect_types=detect)
        real = c._call
        monkeypatch.setattr(c, "_call", lambda m, p, t, real=real:
                            sent.append((m, p)) or real(m, p, t))
        c.execute("select 1").fetchall()
        (method, params), = sent[-1:]
        assert method == "query"
        assert (params[-1].get("decltypes") is True) == asked, params
        c.close()


def test_converted_in_every_chunk(make_daemon):
    d = make_daemon("--chunk-rows", "3")
    c = sqlited.connect(d.socket, detect_types=sqlited.PARSE_DECLTYPES)
    c.execute("create table ev(at timestamp)")
    c.executemany("insert into ev values (?)",
                  [(datetime.datetime(2026, 1, 1, 0, 0, i),) for i in range(10)])
    c.commit()
    rows = c.execute("select at from ev order by at").fetchall()
    assert rows == [(datetime.datetime(2026, 1, 1, 0, 0, i),) for i in range(10)]
    c.close()


def test_seed_connect_call(daemon):
    """The seed application's connect() and first steps (seed 000, line
    ~134): a timestamp DEFAULT CURRENT_TIMESTAMP reads back a datetime."""
    conn = sqlited.connect(
        daemon.socket,
        detect_types=sqlited.PARSE_DECLTYPES | sqlited.PARSE_COLNAMES,
        check_same_thread=False)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.row_factory = sqlited.Row
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, "
                 "created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)")
    conn.execute("INSERT INTO users(name) VALUES (?)", ("ann",))
    conn.commit()
    row = conn.execute("SELECT * FROM users").fetchone()
    assert row["name"] == "ann"
    assert isinstance(row["created_at"], datetime.datetime)
    assert row.keys() == ["id", "name", "created_at"]
    day = conn.execute("SELECT DATE(created_at) AS sale_date FROM users").fetchone()
    assert day["sale_date"] == row["created_at"].date().isoformat()
    conn.close()


def test_register_converter_checks_its_arguments():
    with pytest.raises(TypeError):
        sqlited.register_converter(b"x", str)
    with pytest.raises(TypeError):
        sqlited.register_converter("x", 1)
