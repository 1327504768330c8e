"""make bench's Python view runs (briefly) and prints its table: it cannot
rot unseen. Its figures are never checked here."""

import subprocess
import sys
from pathlib import Path

from sqlited_daemon import BINARY

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "python_bench.py"


def test_python_bench_runs():
    out = subprocess.run([sys.executable, str(SCRIPT), "--seconds", "0.3",
                          "--daemon", BINARY],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    for line in ("sqlited driver", "sqlite3 + retry", "sqlite3 in-process",
                 "targets (reported, not asserted)"):
        assert line in out.stdout
