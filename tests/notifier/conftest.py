"""Fixtures of the notifier's tests."""

from tests.notifier.emulator import twilio  # noqa: F401  (a fixture)
