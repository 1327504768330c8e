"""README's Python examples run as written ("Using it from Python", "Flask
and SQLAlchemy"), against a daemon on ./var/sqlited.sock of their working
directory, like the C example that make test builds."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path


README = Path(__file__).resolve().parents[2] / "README.md"


def section_code(title: str) -> str:
    text = README.read_text()
    start = text.index("\n## %s\n" % title)
    end = text.find("\n## ", start + 1)
    blocks = re.findall(r"^```python\n(.*?)^```$", text[start:end], re.S | re.M)
    assert blocks, "no python block under " + title
    return "\n".join(blocks)


def run_example(daemon, tmp_path, title: str) -> str:
    (tmp_path / "var").mkdir()
    os.symlink(daemon.socket, tmp_path / "var" / "sqlited.sock")
    script = tmp_path / "example.py"
    script.write_text(section_code(title))
    env = {k: v for k, v in os.environ.items() if k != "SQLITED_SOCKET"}
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_using_it_from_python(daemon, tmp_path):
    assert run_example(daemon, tmp_path, "Using it from Python").splitlines() == [
        "inserted row 1",
        "1 hello from Python",
        "SQLITE_CONSTRAINT_PRIMARYKEY UNIQUE constraint failed: notes.id",
    ]


def test_flask_and_sqlalchemy(daemon, tmp_path):
    assert run_example(daemon, tmp_path, "Flask and SQLAlchemy") == "1 note(s)\n"
