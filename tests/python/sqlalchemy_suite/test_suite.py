"""SQLAlchemy's dialect compliance suite (sqlalchemy.testing.suite, 1.4)."""

from sqlalchemy.testing.suite import *  # noqa: F401,F403
