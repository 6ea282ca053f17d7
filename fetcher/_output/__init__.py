"""Output: the record formats and their writers, terminal safety, the output file and
resuming into it."""
