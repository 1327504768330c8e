"""The SQLAlchemy dialect outside SQLAlchemy's own suite: how an application
finds it, its URL, its pool, disconnects, nested transactions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, declarative_base

import sqlited

ROOT = Path(__file__).resolve().parents[2]


def url(daemon, query=""):
    return "sqlite+sqlited:///" + daemon.socket + query


def test_an_application_naming_the_url_needs_no_import(daemon):
    # Only PYTHONPATH=client/python: the entry point in the dist-info beside
    # the package brings SQLAlchemy to the dialect.
    code = ("import sys, sqlalchemy as sa\n"
            "e = sa.create_engine(sys.argv[1])\n"
            "with e.connect() as c:\n"
            "    print(c.execute(sa.text('select 40 + 2')).scalar())\n"
            "print(type(e.dialect).__module__, type(e.pool).__name__)\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "client" / "python"))
    out = subprocess.run([sys.executable, "-c", code, url(daemon)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["42", "sqlited.dialect", "QueuePool"]


def test_url_options(daemon):
    e = sa.create_engine(url(daemon, "?timeout=2.5&isolation_level=IMMEDIATE"))
    with e.connect() as c:
        raw = c.connection.dbapi_connection
        assert isinstance(raw, sqlited.Connection)
        assert raw.timeout == 2.5 and raw.isolation_level == "IMMEDIATE"
    assert e.dialect.server_version_info == tuple(
        int(x) for x in sqlited.sqlite_version.split("."))
    e.dispose()
    with pytest.raises(sa_exc.ArgumentError, match="unknown sqlited URL option"):
        sa.create_engine(url(daemon, "?timeuot=1")).connect()
    with pytest.raises(sa_exc.ArgumentError, match="Invalid sqlited URL"):
        sa.create_engine("sqlite+sqlited://user@host/x.sock").connect()


def test_pool_is_shared_across_threads(daemon):
    import threading
    e = sa.create_engine(url(daemon), pool_size=2)
    results = []

    def work():
        with e.connect() as c:
            results.append(c.execute(sa.text("select 1")).scalar())

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [1] * 6
    e.dispose()


def test_pre_ping_replaces_connections_of_a_restarted_daemon(daemon):
    e = sa.create_engine(url(daemon), pool_pre_ping=True)
    with e.connect() as c:
        c.execute(sa.text("select 1"))
    daemon.stop()
    daemon.start()
    with e.connect() as c:
        assert c.execute(sa.text("select 2")).scalar() == 2
    e.dispose()


def test_disconnect_invalidates_the_pool(daemon):
    e = sa.create_engine(url(daemon))
    with e.connect() as c:
        c.execute(sa.text("select 1"))
    daemon.stop()
    daemon.start()
    with pytest.raises(sa_exc.OperationalError) as info:
        with e.connect() as c:
            c.execute(sa.text("select 1"))
    assert info.value.connection_invalidated
    assert info.value.orig.sqlite_errorname == "SQLITED_ECLOSED"
    with e.connect() as c:
        assert c.execute(sa.text("select 3")).scalar() == 3
    e.dispose()


Base = declarative_base()


class Item(Base):
    __tablename__ = "items"
    id = sa.Column(sa.Integer, primary_key=True)
    name = sa.Column(sa.String(20), unique=True, nullable=False)


def test_orm_and_nested_transactions(daemon):
    e = sa.create_engine(url(daemon))
    Base.metadata.create_all(e)
    with Session(e) as s:
        s.add(Item(name="a"))
        s.commit()
    with Session(e) as s:
        s.add(Item(name="b"))
        with pytest.raises(sa_exc.IntegrityError):
            with s.begin_nested():
                s.add(Item(name="a"))  # duplicate: rolled back to the savepoint
        s.add(Item(name="c"))
        s.commit()
    with Session(e) as s:
        assert [i.name for i in s.query(Item).order_by(Item.name)] == ["a", "b", "c"]
    e.dispose()


def test_autocommit_isolation_level(daemon):
    e = sa.create_engine(url(daemon), isolation_level="AUTOCOMMIT")
    with e.connect() as c:
        c.execute(sa.text("create table t(x)"))
        c.execute(sa.text("insert into t values (1)"))
        assert not c.connection.dbapi_connection.in_transaction
    with sa.create_engine(url(daemon)).connect() as other:
        assert other.execute(sa.text("select count(*) from t")).scalar() == 1
    e.dispose()
