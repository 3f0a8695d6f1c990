"""Dose flow: the dose plan to integer step deadlines, the controller that applies commands, the per-step hot path."""
