"""Webhooks: endpoints, signing (Standard Webhooks), the delivery outbox and worker."""
