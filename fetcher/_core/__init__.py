"""The shared vocabulary of every layer: options, records, errors, executors, URL lines.

Nothing here imports from the rest of fetcher, and nothing here is heavy: importing the
core costs no HTTP client, no pool and no command line.
"""
