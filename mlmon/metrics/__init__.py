"""Metric declarations and their computation over windows and segments."""
