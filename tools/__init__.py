"""Laptop-side tools for the pump firmware: simulator, benchmarks, build and deploy helpers (CPython only)."""
