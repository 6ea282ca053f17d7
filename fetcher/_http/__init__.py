"""One attempt at one URL: the network under a deadline, the sync and async clients,
requests and redirects, bodies under caps, titles, saving pages, and the failure kinds."""

from .._compat import skip_httpx_command_line

skip_httpx_command_line()  # before any module here imports httpx: a faster start
