"""The gRPC surface: servicer, proto translation and the one error mapping."""
