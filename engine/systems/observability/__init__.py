"""Observability for the serving stack: Prometheus-style metrics, spans with JSON logs, cost per request."""
