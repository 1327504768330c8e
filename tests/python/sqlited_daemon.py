"""Start a real sqlited daemon in a fresh temporary directory, for tests and
the benchmark (the Python twin of tests/helpers/harness.c).

The daemon is told to listen on DIR/sqlited.sock and to report readiness on
a datagram socket bound at DIR/notify (systemd's NOTIFY_SOCKET protocol), so
that nothing races its start-up. Every wait is bounded.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional, Sequence

ROOT = Path(__file__).resolve().parents[2]
BINARY = os.environ.get("SQLITED_BIN") or str(ROOT / "build" / "sqlited")

READY_TIMEOUT = 20.0
STOP_TIMEOUT = 30.0


class Daemon:
    """One daemon. ``socket`` and ``database`` are its paths; ``log`` its
    stderr. Use as a context manager, or start()/stop()."""

    def __init__(self, extra_args: Sequence[str] = (),
                 directory: Optional[str] = None) -> None:
        self.own_dir = directory is None
        # Short paths: a Unix socket's path must fit in 108 bytes.
        self.dir = directory or tempfile.mkdtemp(prefix="sqlited-py-", dir="/tmp")
        self.socket = os.path.join(self.dir, "sqlited.sock")
        self.database = os.path.join(self.dir, "test.db")
        self.log = os.path.join(self.dir, "daemon.log")
        self.extra_args = list(extra_args)
        self.proc: Optional[subprocess.Popen] = None

    def start(self) -> "Daemon":
        notify_path = os.path.join(self.dir, "notify")
        if os.path.exists(notify_path):
            os.unlink(notify_path)
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(notify_path)
        env = dict(os.environ, NOTIFY_SOCKET=notify_path)
        argv = [BINARY, "--database", self.database, "--socket", self.socket,
                "--log-level", "warn", *self.extra_args]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log)
        deadline = time.monotonic() + READY_TIMEOUT
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise RuntimeError("sqlited not ready in %.0f s; log: %s"
                                       % (READY_TIMEOUT, self.read_log()))
                notify.settimeout(min(remaining, 0.2))
                try:
                    if b"READY=1" in notify.recv(4096):
                        return self
                except socket.timeout:
                    pass
                if self.proc.poll() is not None:
                    raise RuntimeError("sqlited exited with %s; log: %s"
                                       % (self.proc.returncode, self.read_log()))
        finally:
            notify.close()

    def read_log(self) -> str:
        try:
            return Path(self.log).read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, sig: int = signal.SIGTERM) -> Optional[int]:
        """Stops the daemon (SIGTERM, then SIGKILL after STOP_TIMEOUT) and
        returns its exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        status = self.proc.returncode
        self.proc = None
        return status

    def cleanup(self) -> None:
        self.stop()
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "Daemon":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.cleanup()
