"""The client tests read times in the laptop's zone: UTC here, unless a test sets another (pytest's monkeypatch
restores the zone after it)."""

import time

import pytest


@pytest.fixture(autouse=True)
def _laptop_in_utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()

