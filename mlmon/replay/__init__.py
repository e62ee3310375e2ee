"""Replay logged requests against a local model: choose them, send them, compare the answers."""
