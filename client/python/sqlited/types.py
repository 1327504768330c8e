"""Values: what Python values bind as, PEP 249's type objects, and ``Row``.

SQLite's values travel as MessagePack: INTEGER as int, REAL as float, TEXT
as str, BLOB as bytes, NULL as None (protocol/PROTOCOL.md, "Values").
Parameters of other types go through an adapter, as in ``sqlite3``:
``datetime.date`` and ``datetime.datetime`` become ISO 8601 text by default
(``sqlite3``'s default adapters in Python 3.11), and ``register_adapter()``
adds more. A ``bool`` binds as 1 or 0.

Results go through a converter when the connection's ``detect_types`` asks
for it, as in ``sqlite3``: ``register_converter()`` names one for a type,
found by a column's declared type (``PARSE_DECLTYPES``; the daemon sends
them on request) or by ``[type]`` in its name (``PARSE_COLNAMES``).
"""

from __future__ import annotations

import datetime
import time
from typing import (Any, Callable, Dict, Iterator, Mapping, Optional, Sequence,
                    Tuple, Type, Union)

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


#: Flags of ``connect(detect_types=...)``, as in ``sqlite3``.
PARSE_DECLTYPES = 1
PARSE_COLNAMES = 2


def convert_date(val: bytes) -> datetime.date:
    """``sqlite3``'s default converter "date" (Python 3.11)."""
    return datetime.date(*map(int, val.split(b"-")))


def convert_timestamp(val: bytes) -> datetime.datetime:
    """``sqlite3``'s default converter "timestamp" (Python 3.11):
    ``YYYY-MM-DD HH:MM:SS[.ffffff]``."""
    datepart, timepart = val.split(b" ")
    year, month, day = map(int, datepart.split(b"-"))
    timepart_full = timepart.split(b".")
    hours, minutes, seconds = map(int, timepart_full[0].split(b":"))
    if len(timepart_full) == 2:
        microseconds = int("{:0<6.6}".format(timepart_full[1].decode()))
    else:
        microseconds = 0
    return datetime.datetime(year, month, day, hours, minutes, seconds,
                             microseconds)


_converters: Dict[str, Callable[[bytes], Any]] = {
    "DATE": convert_date,
    "TIMESTAMP": convert_timestamp,
}


def register_converter(typename: str, converter: Callable[[bytes], Any]) -> None:
    """Converts result values of type @typename (case-insensitive) with
    @converter, which receives the value as bytes (never for NULL), as
    ``sqlite3.register_converter()``. Used only on connections whose
    ``detect_types`` has ``PARSE_DECLTYPES`` or ``PARSE_COLNAMES``."""
    if not isinstance(typename, str):
        raise TypeError("register_converter() argument 1 must be str")
    if not callable(converter):
        raise TypeError("parameter must be callable")
    _converters[typename.upper()] = converter


def column_name(name: str, detect_types: int) -> str:
    """The name ``description`` gives a result column: with
    ``PARSE_COLNAMES``, cut before ``[`` and the one space before it."""
    if detect_types & PARSE_COLNAMES:
        at = name.find("[")
        if at >= 0:
            return name[:at - 1] if at > 0 and name[at - 1] == " " else name[:at]
    return name


def converter_for(name: Any, decltype: Any,
                  detect_types: int) -> Optional[Callable[[bytes], Any]]:
    """The converter of a column named @name declared as @decltype (None
    for an expression), as ``sqlite3`` finds it: with ``PARSE_COLNAMES``
    the type inside the name's first ``[...]``, else with
    ``PARSE_DECLTYPES`` the declared type's first word (before a space or
    ``(``)."""
    if detect_types & PARSE_COLNAMES and isinstance(name, str):
        start = name.find("[")
        if start >= 0:
            end = name.find("]", start + 1)
            if end >= 0:
                conv = _converters.get(name[start + 1:end].upper())
                if conv is not None:
                    return conv
    if detect_types & PARSE_DECLTYPES and isinstance(decltype, str):
        word = decltype
        for i, ch in enumerate(decltype):
            if ch in " (":
                word = decltype[:i]
                break
        return _converters.get(word.upper())
    return None


def to_bytes(value: Any) -> bytes:
    """@value (not None) as a converter receives it: the bytes SQLite's
    sqlite3_column_blob() gives (text as UTF-8, a number as its text)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return repr(value).encode()


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
    """A PEP 249 type object: equal to each type code it stands for.
    ``description``'s type codes are None, as in ``sqlite3``, so these
    compare equal to the names of SQLite's storage classes only."""

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
