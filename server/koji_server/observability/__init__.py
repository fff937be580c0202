"""Operating the service: per-request context, Prometheus metrics, log lines."""
