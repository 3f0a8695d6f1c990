"""Telemetry and command flows: frames, HMAC, authentication, commands, the BLE service on the fake radio and Bumble."""
