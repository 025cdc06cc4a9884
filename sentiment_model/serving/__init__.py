"""The real-time scoring service: a micro-batcher, a hot-reloading model holder,
Prometheus metrics and the FastAPI app (``sentiment serve``)."""
