"""The tools behind `fetcher serve` (a local test site) and `fetcher bench` (measuring
the executors against each other and against curl and plain httpx). They use fetcher's
public API, like any other program would, plus their own modules."""
