"""The wire: MessagePack-RPC requests and answers over the daemon's Unix socket.

``Wire`` sends requests (``[0, msgid, method, params]``) and collects their
answers (``[1, msgid, error, result]``) by msgid, as protocol/PROTOCOL.md
describes. Answers may come in any order and may come while the caller waits
for another one (a cursor's next chunk is requested ahead), so every answer
read is kept until its request claims it, or dropped when its request was
forgotten. Nothing here knows SQL.

A connection that breaks (the daemon hung up, bytes that are not
MessagePack, no answer before the wait's bound) is closed and stays broken:
every later call raises the same ``OperationalError`` (``SQLITED_ECLOSED``,
or the daemon's own error notification when it sent one before hanging up).
Nothing is ever sent again on it, so a write is never retried in silence;
whether an unanswered write was applied is unknown, and the error says so.

A ``Wire`` is not thread-safe; ``Connection`` serializes its use.
"""

from __future__ import annotations

import socket
import time
from typing import Any, Callable, Dict, Optional, Tuple

import msgpack

from . import exceptions as exc

#: Bytes read from the socket at a time.
_READ_SIZE = 256 * 1024

#: Largest message the driver accepts before the daemon told its own limit
#: (``hello``); then twice the daemon's ``max_message_size``.
_DEFAULT_MAX_MESSAGE = 64 * 1024 * 1024

Answer = Tuple[Any, Any]  # (error object or None, result)
Callback = Callable[[Any, Any], None]


class Wire:
    """One connection to the daemon. ``path`` is the socket's path;
    ``connect_timeout`` bounds connecting and each send (seconds)."""

    def __init__(self, path: str, connect_timeout: float) -> None:
        self.path = path
        self._sock: Optional[socket.socket] = None
        self._next_id = 0
        self._answers: Dict[int, Answer] = {}
        self._forgotten: Dict[int, Optional[Callback]] = {}
        self._notice: Optional[exc.Error] = None
        self.broken: Optional[exc.Error] = None
        self._send_timeout = connect_timeout
        self._packer = msgpack.Packer(use_bin_type=True)
        self._unpacker = self._new_unpacker(_DEFAULT_MAX_MESSAGE)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(connect_timeout)
        try:
            sock.connect(path)
        except OSError as e:
            sock.close()
            raise exc.lost("cannot connect to sqlited at %s: %s"
                           % (path, e.strerror or e)) from None
        self._sock = sock

    @staticmethod
    def _new_unpacker(max_message: int) -> msgpack.Unpacker:
        # Arrays as tuples: rows come out as the tuples DB-API returns.
        return msgpack.Unpacker(raw=False, use_list=False,
                                max_buffer_size=max_message)

    def set_max_message(self, size: int) -> None:
        """Accept answers up to @size bytes (the daemon's limit, from hello).
        Only before anything is buffered, that is right after hello."""
        self._unpacker = self._new_unpacker(max(2 * size, _DEFAULT_MAX_MESSAGE))

    # ---------------------------------------------------------------- sending
    def send(self, method: str, params: list) -> int:
        """Sends one request and returns its msgid, without waiting."""
        self._check()
        self._next_id = (self._next_id + 1) & 0xFFFFFFFF
        msgid = self._next_id
        try:
            data = self._packer.pack([0, msgid, method, params])
        except (TypeError, ValueError, OverflowError) as e:
            raise exc.InterfaceError("cannot encode the request: %s" % e) from None
        assert self._sock is not None
        try:
            self._sock.settimeout(self._send_timeout)
            self._sock.sendall(data)
        except OSError as e:
            # Part of the request may be on its way: the stream is no longer
            # in a known state, and the request may or may not run.
            self._break(exc.lost(
                "connection to sqlited lost while sending %s (%s); whether "
                "it was applied is unknown" % (method, e.strerror or e)))
            raise self._broken_error()
        return msgid

    # -------------------------------------------------------------- receiving
    def receive(self, msgid: int, wait: Optional[float]) -> Any:
        """Waits for the answer to @msgid, up to @wait seconds (None: no
        bound), and returns its result, or raises its error. Answers to
        other requests read meanwhile are kept for them."""
        deadline = None if wait is None else time.monotonic() + wait
        while msgid not in self._answers:
            self._check()
            self._read(deadline)
        error, result = self._answers.pop(msgid)
        if error is not None:
            raise exc.from_daemon(error)
        return result

    def forget(self, msgid: int, then: Optional[Callback] = None) -> None:
        """The answer to @msgid is not wanted: drop it when it comes, after
        calling @then(error, result) if given (it must not call the wire)."""
        if msgid in self._answers:
            error, result = self._answers.pop(msgid)
            if then is not None:
                then(error, result)
        else:
            self._forgotten[msgid] = then

    def _read(self, deadline: Optional[float]) -> None:
        assert self._sock is not None
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            self._break(exc.lost(
                "no answer from sqlited at %s in time; the connection is "
                "closed and whether the request was applied is unknown"
                % self.path))
            raise self._broken_error()
        try:
            self._sock.settimeout(remaining)
            data = self._sock.recv(_READ_SIZE)
        except (socket.timeout, BlockingIOError):
            return  # the loop in receive() checks the deadline again
        except OSError as e:
            self._break(exc.lost("connection to sqlited lost: %s"
                                 % (e.strerror or e)))
            raise self._broken_error()
        if not data:
            self._break(self._notice or exc.lost(
                "sqlited closed the connection; requests not answered may "
                "or may not have been applied"))
            raise self._broken_error()
        try:
            self._unpacker.feed(data)
            for message in self._unpacker:
                self._dispatch(message)
        except exc.Error:
            raise
        except Exception as e:  # msgpack's errors: bytes that are not ours
            self._break(exc.OperationalError(
                "malformed answer from sqlited: %s" % e,
                code=exc.EPROTO[0], name=exc.EPROTO[1]))
            raise self._broken_error()

    def _dispatch(self, message: Any) -> None:
        if (isinstance(message, tuple) and len(message) == 4
                and message[0] == 1 and isinstance(message[1], int)):
            msgid = message[1]
            if msgid in self._forgotten:
                then = self._forgotten.pop(msgid)
                if then is not None:
                    then(message[2], message[3])
            else:
                self._answers[msgid] = (message[2], message[3])
        elif (isinstance(message, tuple) and len(message) == 3
              and message[0] == 2):
            # An error the daemon could not address to a request; when it
            # is about the framing the daemon hangs up next, and this error
            # is the reason given.
            params = message[2]
            error = params[0] if isinstance(params, tuple) and params else params
            self._notice = exc.from_daemon(error)
        else:
            raise exc.OperationalError(
                "malformed message from sqlited: %r" % (message,),
                code=exc.EPROTO[0], name=exc.EPROTO[1])

    # ------------------------------------------------------------ the socket
    def _check(self) -> None:
        if self.broken is not None:
            raise self._broken_error()
        if self._sock is None:
            raise exc.ProgrammingError("Cannot operate on a closed database.")

    def _broken_error(self) -> exc.Error:
        assert self.broken is not None
        b = self.broken
        return type(b)(str(b), code=b.sqlite_errorcode, name=b.sqlite_errorname)

    def _break(self, error: exc.Error) -> None:
        if self.broken is None:
            self.broken = error
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def close(self) -> None:
        """Closes the socket; the daemon rolls back an open transaction and
        drops the connection's cursors. Idempotent."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
