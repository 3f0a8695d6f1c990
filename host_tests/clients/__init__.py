"""The laptop tools that talk to the pump: the programmer, the telemetry client, tools/pumplink, the keys."""
