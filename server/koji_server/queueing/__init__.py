"""Durable work queues over the database: claiming with a lease, retry settings
and backoff, the in-process worker loop. Used by the analysis pipeline and
webhook deliveries alike; imports neither."""
