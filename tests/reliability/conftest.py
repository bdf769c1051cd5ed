"""Fixtures borrowed from other suites: the session's Chromium (tests/browser/conftest.py launches Debian's)
and the permission table's brand, whose forms the oversized-input tests post to."""

from tests.browser.conftest import browser, playwright
from tests.test_permission_table import world

__all__ = ["browser", "playwright", "world"]
