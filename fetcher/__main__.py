"""`python -m fetcher` runs the command line."""

from ._entry import main

main()
