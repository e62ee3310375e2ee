"""Reference data for drift and data quality: from logs, a dataset file, or a saved profile."""
