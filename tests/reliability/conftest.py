"""The session's Chromium for the browser test here (tests/browser/conftest.py launches Debian's)."""

from tests.browser.conftest import browser, playwright

__all__ = ["browser", "playwright"]
