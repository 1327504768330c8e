"""SQLAlchemy's pytest plugin, as third-party dialects load it. The dialect
itself is found through its entry point (client/python's dist-info)."""

import pytest

pytest.register_assert_rewrite("sqlalchemy.testing.assertions")

from sqlalchemy.testing.plugin.pytestplugin import *  # noqa: E402,F401,F403
