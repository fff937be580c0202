"""Small tools with no knowledge of the service: the clock, a TTL + LRU cache,
single flight. Imports nothing else of koji_server."""
