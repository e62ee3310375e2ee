"""Renderers: turn a computed report into text for people (table, markdown) or machines (json, csv)."""
