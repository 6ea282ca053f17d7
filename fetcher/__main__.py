"""`python -m fetcher` runs the command line."""

from .cli import main

main()
