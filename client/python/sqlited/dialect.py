"""The SQLAlchemy dialect: ``sqlite+sqlited:///path/to/sqlited.sock``.

It is SQLAlchemy's own SQLite dialect (SQL, types, reflection) over this
driver instead of ``sqlite3``, registered through the ``sqlalchemy.dialects``
entry point ``sqlite.sqlited``, so that an application names the URL and
imports nothing. The URL's path is the daemon's socket (three slashes: a
path relative to the working directory; four: an absolute one). Query
options: ``timeout`` (seconds, each request's deadline) and
``isolation_level`` (the driver's, as in ``sqlite3``)::

    create_engine("sqlite+sqlited:////srv/app/var/sqlited.sock?timeout=10")

Unlike a file, a server is shared by many connections at once, so the pool
is SQLAlchemy's ``QueuePool`` (not the NullPool or SingletonThreadPool it
picks for SQLite files), and pooled connections move between threads.

What differs from SQLite in a file: the daemon runs SQL, so Python
functions cannot be registered (no ``REGEXP``); pragmas that would change
the connections every client shares are refused (``PRAGMA read_uncommitted``
among them, so the isolation levels are ``SERIALIZABLE``, SQLite's own, and
``AUTOCOMMIT``); ``ATTACH`` and TEMP tables are refused.
"""

from __future__ import annotations

import os
from typing import Any, Tuple

from sqlalchemy import exc as sa_exc
from sqlalchemy import pool, util
from sqlalchemy.engine import reflection
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite


class SQLiteDialect_sqlited(SQLiteDialect_pysqlite):
    """SQLAlchemy's SQLite dialect, driver ``sqlited``."""

    driver = "sqlited"
    supports_statement_cache = True

    _isolation_lookup = util.immutabledict({"SERIALIZABLE": 0, "AUTOCOMMIT": None})

    @classmethod
    def dbapi(cls) -> Any:
        import sqlited

        return sqlited

    @classmethod
    def get_pool_class(cls, url: Any) -> Any:
        return pool.QueuePool

    def create_connect_args(self, url: Any) -> Tuple[list, dict]:
        if url.username or url.password or url.host or url.port:
            raise sa_exc.ArgumentError(
                "Invalid sqlited URL: %s\nthe form is "
                "sqlite+sqlited:///relative/path/to/sqlited.sock or "
                "sqlite+sqlited:////absolute/path/to/sqlited.sock" % (url,))
        opts = dict(url.query)
        kwargs: dict = {"check_same_thread": False}
        util.coerce_kw_type(opts, "timeout", float, dest=kwargs)
        if "isolation_level" in opts:
            kwargs["isolation_level"] = opts.pop("isolation_level")
        opts.pop("timeout", None)
        unknown = sorted(set(opts) - {"isolation_level"})
        if unknown:
            raise sa_exc.ArgumentError(
                "unknown sqlited URL option(s): %s (known: timeout, "
                "isolation_level)" % ", ".join(unknown))
        socket = url.database or None  # None: $SQLITED_SOCKET or the default
        if socket:
            socket = os.path.abspath(socket)
        return ([socket], kwargs)

    def on_connect(self) -> Any:
        # SQLAlchemy's SQLite dialect registers a Python REGEXP function on
        # each connection; the daemon cannot call into this process.
        if self.isolation_level is None:
            return None

        def iso_level(conn: Any) -> None:
            self.set_isolation_level(conn, self.isolation_level)

        return iso_level

    def set_isolation_level(self, connection: Any, level: str) -> None:
        if level not in self._isolation_lookup:
            raise sa_exc.ArgumentError(
                "Invalid value '%s' for isolation_level. Valid isolation "
                "levels for %s are %s" % (level, self.name,
                                          ", ".join(self._isolation_lookup)))
        dbapi_connection = getattr(connection, "dbapi_connection", connection)
        dbapi_connection.isolation_level = None if level == "AUTOCOMMIT" else ""

    def get_isolation_level(self, connection: Any) -> str:
        dbapi_connection = getattr(connection, "dbapi_connection", connection)
        if dbapi_connection.isolation_level is None:
            return "AUTOCOMMIT"
        return "SERIALIZABLE"

    def _get_server_version_info(self, connection: Any) -> Tuple[int, ...]:
        version = connection.connection.sqlite_version
        return tuple(int(x) for x in version.split("."))

    # Reflection. The daemon refuses every object in the TEMP schema, and
    # reading it too, so there is nothing there to find: look in main only,
    # where SQLAlchemy's SQLite dialect also searches temp.
    def _get_table_pragma(self, connection: Any, pragma: str,
                          table_name: str, schema: Any = None) -> list:
        return super()._get_table_pragma(connection, pragma, table_name,
                                         schema=schema or "main")

    def get_temp_table_names(self, connection: Any, **kw: Any) -> list:
        return []

    def get_temp_view_names(self, connection: Any, **kw: Any) -> list:
        return []

    def _get_table_sql(self, connection: Any, table_name: str,
                       schema: Any = None, **kw: Any) -> Any:
        return self._master_sql(connection, "table", table_name, schema)

    @reflection.cache  # (its decorator cannot take annotations)
    def get_view_definition(self, connection, view_name, schema=None, **kw):
        return self._master_sql(connection, "view", view_name, schema)

    def _master_sql(self, connection: Any, type_: str, name: str,
                    schema: Any) -> Any:
        master = "%s.sqlite_master" % self.identifier_preparer.quote_identifier(
            schema or "main")
        return connection.exec_driver_sql(
            "SELECT sql FROM %s WHERE name = ? AND type = ?" % master,
            (name, type_)).scalar()

    def is_disconnect(self, e: Any, connection: Any, cursor: Any) -> bool:
        dbapi = self.dbapi
        if not isinstance(e, dbapi.Error):
            return False
        return (e.sqlite_errorname in ("SQLITED_ECLOSED", "SQLITED_EPROTO")
                or "Cannot operate on a closed database." in str(e))


dialect = SQLiteDialect_sqlited
