"""Values: what Python values bind as, PEP 249's type objects, and ``Row``.

SQLite's values travel as MessagePack: INTEGER as int, REAL as float, TEXT
as str, BLOB as bytes, NULL as None (protocol/PROTOCOL.md, "Values").
Parameters of other types go through an adapter, as in ``sqlite3``:
``datetime.date`` and ``datetime.datetime`` become ISO 8601 text by default
(``sqlite3``'s default adapters in Python 3.11), and ``register_adapter()``
adds more. A ``bool`` binds as 1 or 0.
"""

from __future__ import annotations

import datetime
import time
from typing import Any, Callable, Dict, Iterator, Mapping, Sequence, Tuple, Type, Union

from . import exceptions as exc

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1

_NATIVE = frozenset((type(None), str, float, bytes, bool))

_adapters: Dict[type, Callable[[Any], Any]] = {
    datetime.date: lambda v: v.isoformat(),
    datetime.datetime: lambda v: v.isoformat(" "),
}


def register_adapter(type_: type, adapter: Callable[[Any], Any]) -> None:
    """Binds values of exactly @type_ as @adapter(value) returns (an int,
    float, str, bytes or None), as ``sqlite3.register_adapter()``."""
    _adapters[type_] = adapter


def adapt(value: Any, index: Union[int, str]) -> Any:
    """@value as it goes on the wire. @index (1-based position or name)
    only serves the error message. Raises OverflowError for an int outside
    SQLite's 64 bits and ProgrammingError for a type nothing adapts."""
    t = type(value)
    if t in _NATIVE:
        return value
    if t is int:
        if _INT64_MIN <= value <= _INT64_MAX:
            return value
        raise OverflowError("Python int too large to convert to SQLite INTEGER")
    adapter = _adapters.get(t)
    if adapter is not None:
        return adapt(adapter(value), index)
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, int):  # an int subclass (IntEnum, ...)
        return adapt(int(value), index)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    raise exc.ProgrammingError("Error binding parameter %s: type '%s' is not "
                               "supported" % (index, t.__name__))


def bind(names: Tuple[str, ...], parameters: Any) -> Any:
    """The ``params`` of a request for a statement whose named parameters
    are @names, from @parameters as ``execute()`` takes them: a sequence
    (positional) or a mapping (named; keys the statement does not use are
    ignored, as ``sqlite3`` does). Returns None when there is nothing to
    bind."""
    if isinstance(parameters, Mapping):
        if not names:
            return None
        out = {}
        for name in names:
            bare = name[1:]
            try:
                value = parameters[bare]
            except KeyError:
                raise exc.ProgrammingError(
                    "You did not supply a value for binding parameter %s."
                    % name) from None
            out[bare] = adapt(value, name)
        return out
    if not isinstance(parameters, (list, tuple)) and (
            not isinstance(parameters, Sequence)
            or isinstance(parameters, (str, bytes, bytearray))):
        raise exc.ProgrammingError("parameters are of unsupported type")
    if not parameters:
        return None
    return [adapt(v, i + 1) for i, v in enumerate(parameters)]


# -------------------------------------------------------------- PEP 249 types
Date = datetime.date
Time = datetime.time
Timestamp = datetime.datetime


def DateFromTicks(ticks: float) -> datetime.date:
    return Date(*time.localtime(ticks)[:3])


def TimeFromTicks(ticks: float) -> datetime.time:
    return Time(*time.localtime(ticks)[3:6])


def TimestampFromTicks(ticks: float) -> datetime.datetime:
    return Timestamp(*time.localtime(ticks)[:6])


Binary: Type[memoryview] = memoryview


class _TypeObject(frozenset):
    """A PEP 249 type object: equal to each type code it stands for. The
    daemon sends no declared types (``description`` holds None there, as
    in ``sqlite3``), so these compare equal to the names of SQLite's
    storage classes only."""

    def __eq__(self, other: object) -> bool:
        return other in self if isinstance(other, str) else NotImplemented

    def __ne__(self, other: object) -> bool:
        return other not in self if isinstance(other, str) else NotImplemented

    __hash__ = frozenset.__hash__


STRING = _TypeObject({"TEXT"})
BINARY = _TypeObject({"BLOB"})
NUMBER = _TypeObject({"INTEGER", "REAL"})
DATETIME = _TypeObject({"TEXT", "INTEGER", "REAL"})
ROWID = _TypeObject({"INTEGER"})


# ----------------------------------------------------------------------- Row
class Row:
    """A result row like ``sqlite3.Row``: indexed by position, slice or
    column name (case-insensitive), with ``keys()``, equality, hashing and
    ``len()``; ``dict(row)`` works. Use it as ``row_factory``."""

    __slots__ = ("_names", "_index", "_values")

    def __init__(self, cursor: Any, values: Tuple[Any, ...]) -> None:
        names, index = cursor._row_names()
        self._names: Tuple[str, ...] = names
        self._index: Mapping[str, int] = index
        self._values = tuple(values)

    def keys(self) -> list:
        return list(self._names)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            try:
                return self._values[self._index[key.lower()]]
            except KeyError:
                raise IndexError("No item with that key") from None
        return self._values[key]

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Row):
            return NotImplemented
        return self._names == other._names and self._values == other._values

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __hash__(self) -> int:
        return hash(self._names) ^ hash(self._values)

    def __repr__(self) -> str:
        return "<sqlited.Row %r>" % (dict(zip(self._names, self._values)),)
