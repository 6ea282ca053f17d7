"""One attempt at one URL: the network under a deadline, the sync and async clients,
requests and redirects, bodies under caps, titles, saving pages, and the failure kinds."""
