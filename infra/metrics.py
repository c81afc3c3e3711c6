"""Prometheus metric definitions shared by the API and the workers."""

from prometheus_client import Counter, Histogram

HTTP_REQUESTS = Counter("http_requests_total", "HTTP requests", ["method", "route", "status"])
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
EVENTS_PRODUCED = Counter("events_produced_total", "Events acknowledged by the broker", ["topic"])
EVENTS_PRODUCE_FAILED = Counter("events_produce_failed_total", "Events the broker did not accept", ["topic"])
# Worker-side figures (events consumed, lag) travel in the worker heartbeat and are rendered by
# the API's /metrics (api/metrics.py), so one scrape shows the whole pipeline.
# Dead letters too: RunnerStatus.dead_letters per agent and topic -> daira_dead_letters_total.
