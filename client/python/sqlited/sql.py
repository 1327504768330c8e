"""What the driver needs to know about a statement before sending it.

The daemon parses and runs SQL; the driver only looks at its outline, the way
Python's ``sqlite3`` module does: the first keyword (does this statement begin
an implicit transaction? is it transaction control that maps onto the
protocol's ``begin``/``commit``/``rollback``?), the named parameters (so that
a mapping with extra keys binds like ``sqlite3``, which ignores them), and
where one statement ends and the next begins (``execute`` takes one,
``executescript`` runs several).

Everything here is pure and cached by SQL text: an application sends the
same few statements over and over.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import List, Optional, Tuple

# One token at a time. Strings, quoted identifiers and comments are skipped
# whole, so that a ';' or ':name' inside them means nothing. An unterminated
# string or comment runs to the end of the text (SQLite then reports the
# error).
_TOKEN = re.compile(
    r"""
      (?P<space>\s+)
    | (?P<comment>--[^\n]*|/\*.*?(?:\*/|\Z))
    | (?P<quoted>'(?:[^']|'')*(?:'|\Z)
                |"(?:[^"]|"")*(?:"|\Z)
                |`(?:[^`]|``)*(?:`|\Z)
                |\[[^\]]*(?:\]|\Z))
    | (?P<param>[:@$][A-Za-z0-9_$]+(?:::[A-Za-z0-9_$]+)*(?:\([^)]*\))?|\?[0-9]*)
    | (?P<word>[A-Za-z_\x80-\U0010ffff][A-Za-z0-9_$\x80-\U0010ffff]*)
    | (?P<semi>;)
    | (?P<other>.)
    """,
    re.S | re.X,
)

#: Statements that make ``sqlite3`` open a transaction first (its legacy
#: transaction control, the one SQLAlchemy 1.4 and Flask apps rely on).
DML = frozenset(("INSERT", "UPDATE", "DELETE", "REPLACE"))

#: First keywords of statements that only read and may stream from a reader.
READS = frozenset(("SELECT", "WITH", "VALUES", "EXPLAIN"))

#: Pragmas that only read the schema (reflection): sent as ``query`` too.
#: Other pragmas go to the writer (``exec``): those without a value read
#: the writer connection's settings (``foreign_keys``), not a reader's.
SCHEMA_PRAGMAS = frozenset(("table_info", "table_xinfo", "table_list",
                            "index_list", "index_info", "index_xinfo",
                            "foreign_key_list"))


@dataclass(frozen=True)
class Statement:
    """The outline of one SQL statement.

    ``words`` holds its first few keywords, upper-cased; ``names`` its named
    parameters as written (``:id``, ``@id``, ``$id``), each once;
    ``has_value`` whether a PRAGMA gives a value (``= x`` or ``(x)``) and
    ``assigns`` whether it does so with ``=``.
    ``text`` is the statement's SQL (for scripts, one statement of it)."""

    text: str
    words: Tuple[str, ...]
    names: Tuple[str, ...]
    has_value: bool
    assigns: bool = False

    @property
    def keyword(self) -> str:
        return self.words[0] if self.words else ""

    @property
    def is_dml(self) -> bool:
        return self.keyword in DML

    @property
    def is_pragma(self) -> bool:
        return self.keyword == "PRAGMA"

    @property
    def pragma_name(self) -> str:
        """The pragma's name without schema (``busy_timeout``), lower case."""
        if not self.is_pragma or len(self.words) < 2:
            return ""
        return self.words[-1].lower() if len(self.words) > 2 else self.words[1].lower()

    @property
    def reads(self) -> bool:
        """True when the statement is sent as a ``query`` (it may stream):
        reads, and the pragmas of ``SCHEMA_PRAGMAS`` (the daemon brings a
        reader's schema up to date before it prepares a pragma)."""
        if self.is_pragma:
            return not self.assigns and self.pragma_name in SCHEMA_PRAGMAS
        return self.keyword in READS


@dataclass(frozen=True)
class Control:
    """A transaction-control statement the driver handles itself.

    ``kind`` is ``begin``, ``commit``, ``rollback``, ``savepoint``,
    ``release`` or ``rollback_to``; ``mode`` the BEGIN mode (deferred,
    immediate) and ``name`` the savepoint's name, folded to lower case as
    SQLite compares them."""

    kind: str
    mode: str = "deferred"
    name: str = ""


def _unquote(token: str) -> str:
    if token[:1] in "'\"`" and len(token) >= 2:
        q = token[0]
        return token[1:-1].replace(q + q, q)
    if token[:1] == "[":
        return token[1:-1]
    return token


def _outline(text: str, tokens: List[Tuple[str, str]]) -> Statement:
    words: List[str] = []
    names: List[str] = []
    has_value = False
    assigns = False
    for kind, value in tokens:
        if kind == "param" and value[0] != "?" and value not in names:
            names.append(value)
        if has_value or len(words) >= 5:
            continue
        if kind == "word":
            words.append(value.upper())
        elif kind == "quoted" and words:
            words.append(_unquote(value))
        elif kind == "other" and value in "=(" and words:
            # The outline ends where a value starts (PRAGMA x = v, x(v)).
            has_value = True
            assigns = value == "="
    if words[:1] == ["PRAGMA"] and len(words) > 2:
        # PRAGMA main.busy_timeout: the '.' was skipped; keep schema, name.
        words = words[:3]
    return Statement(text.strip(), tuple(words), tuple(names), has_value, assigns)


#: SQL longer than this is outlined each time rather than cached, so that
#: the cache never holds large scripts or statements with inlined data.
CACHE_SQL_LENGTH = 4096


def split(sql: str) -> Tuple[Statement, ...]:
    """Splits @sql into its statements (empty ones dropped), outlining each.
    Cached by text for SQL up to CACHE_SQL_LENGTH characters."""
    if len(sql) <= CACHE_SQL_LENGTH:
        return _split_cached(sql)
    return _split(sql)


def _split(sql: str) -> Tuple[Statement, ...]:
    """Splits @sql into its statements (empty ones dropped), outlining each.

    A ``;`` ends a statement unless it sits in a string, a quoted name, a
    comment, or the body of a ``CREATE TRIGGER`` (between its ``BEGIN`` and
    the matching ``END``; a ``CASE`` inside also ends with ``END``)."""
    statements: List[Statement] = []
    tokens: List[Tuple[str, str]] = []
    start = 0
    words_seen = 0
    is_trigger = False
    depth = 0
    for m in _TOKEN.finditer(sql):
        kind = m.lastgroup or "other"
        if kind in ("space", "comment"):
            continue
        value = m.group()
        if kind == "semi" and depth == 0:
            if tokens:
                statements.append(_outline(sql[start : m.start()], tokens))
            tokens = []
            start = m.end()
            words_seen = 0
            is_trigger = False
            continue
        tokens.append((kind, value))
        if kind == "word":
            upper = value.upper()
            words_seen += 1
            if words_seen <= 4 and upper == "TRIGGER" and tokens[0][1].upper() == "CREATE":
                is_trigger = True
            elif is_trigger and upper in ("BEGIN", "CASE"):
                depth += 1
            elif is_trigger and upper == "END" and depth > 0:
                depth -= 1
    if tokens:
        statements.append(_outline(sql[start:], tokens))
    return tuple(statements)


_split_cached = functools.lru_cache(maxsize=512)(_split)


_BEGIN_MODES = {"DEFERRED": "deferred", "IMMEDIATE": "immediate", "EXCLUSIVE": "immediate"}


def control(stmt: Statement) -> Optional[Control]:
    """The transaction control @stmt stands for, or None for any other
    statement. ``END`` is ``COMMIT``; ``EXCLUSIVE`` is taken as
    ``IMMEDIATE``, the strongest mode the daemon has (in WAL mode SQLite
    treats them alike)."""
    w = stmt.words
    if not w:
        return None
    k = w[0]
    if k == "BEGIN":
        mode = _BEGIN_MODES.get(w[1], "deferred") if len(w) > 1 else "deferred"
        return Control("begin", mode=mode)
    if k in ("COMMIT", "END"):
        return Control("commit")
    if k == "ROLLBACK":
        rest = [x for x in w[1:] if x != "TRANSACTION"]
        if rest and rest[0] == "TO":
            name = rest[2] if len(rest) > 2 and rest[1] == "SAVEPOINT" else (rest[1] if len(rest) > 1 else "")
            return Control("rollback_to", name=name.lower())
        return Control("rollback")
    if k == "SAVEPOINT":
        return Control("savepoint", name=(w[1] if len(w) > 1 else "").lower())
    if k == "RELEASE":
        rest = w[1:]
        if rest and rest[0] == "SAVEPOINT":
            rest = rest[1:]
        return Control("release", name=(rest[0] if rest else "").lower())
    return None
