"""Prometheus metrics of one service instance (its own registry, so several apps in one
process, e.g. tests, do not collide)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Request latency from a millisecond to seconds; batch sizes in reviews up to the largest batch.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


@dataclass
class ServiceMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = Counter("sentiment_http_requests_total", "HTTP requests by route, method and status.", ("route", "method", "status"), registry=r)
        self.latency = Histogram("sentiment_http_request_seconds", "HTTP request latency by route, method and status.", ("route", "method", "status"), buckets=LATENCY_BUCKETS, registry=r)
        self.batch_reviews = Histogram("sentiment_batch_reviews", "Reviews per model call.", buckets=BATCH_BUCKETS, registry=r)
        self.batch_requests = Histogram("sentiment_batch_requests", "Requests gathered into one model call.", buckets=BATCH_BUCKETS, registry=r)
        self.model_seconds = Histogram("sentiment_model_call_seconds", "Time of one model call (tokenize + predict).", buckets=LATENCY_BUCKETS, registry=r)
        self.queue_depth = Gauge("sentiment_queue_requests", "Requests waiting for the model.", registry=r)
        self.rejected = Counter("sentiment_rejected_total", "Requests answered 503 on arrival: the queue was full, or the model was further behind than the latency budget.", registry=r)
        self.reviews = Counter("sentiment_reviews_scored_total", "Reviews scored.", registry=r)
        self.model_info = Gauge("sentiment_model_info", "The model being served (value 1).", ("version", "runtime"), registry=r)
        self.reloads = Counter(
            "sentiment_model_reloads_total",
            "Champion reloads by outcome: loaded, failed (the model did not load), error (the check itself failed, e.g. an unreadable pointer).",
            ("outcome",),
            registry=r,
        )
        self.loaded_at = Gauge("sentiment_model_loaded_timestamp_seconds", "When the model being served was swapped in (Unix time).", registry=r)

    def serving(self, version: str, runtime: str) -> None:
        """Mark ``version`` as the one served (the previous one's series is removed)."""
        self.model_info.clear()
        self.model_info.labels(version=version, runtime=runtime).set(1)
