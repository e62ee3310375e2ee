"""Alert rules: the file format (parse and validate), evaluation with explicit state, and cron state."""
