"""Reading request/response logs: finding the files, mapping their fields, decoding lines."""
