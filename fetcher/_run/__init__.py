"""The run engine: a list of URLs through a pool, one record per URL as each completes.

`runner.FetchRun` keeps a bounded window of attempts in flight, `schedule` decides which
URL goes next (per-origin caps, a rate, retries later), `feeder` reads the input ahead
on a thread, and `urllist` reads URL lists lazily.
"""
