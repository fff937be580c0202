"""After completion: the durable job queue, its worker and the analysis executor."""
