"""Domain logic of the interview service; it knows nothing about gRPC."""
