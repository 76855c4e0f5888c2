"""Collector counters, exported on a Prometheus endpoint and in the periodic log line."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


class Metrics:
    """One collector's counters, in a registry of their own (several collectors per process
    in tests must not share them)."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.messages = Counter(
            "jieneng_ingest_messages_received", "MQTT messages received", registry=r
        )
        self.written = Counter(
            "jieneng_ingest_readings_written", "Readings committed as new rows", registry=r
        )
        self.duplicates = Counter(
            "jieneng_ingest_readings_duplicate",
            "Readings already stored (redelivery, repeated publish): changed nothing",
            registry=r,
        )
        self.rejected = Counter(
            "jieneng_ingest_readings_rejected",
            "Refused readings or messages, by reason code",
            ["reason"],
            registry=r,
        )
        self.dead_letters = Counter(
            "jieneng_ingest_dead_letters", "Messages written to dead_letters", registry=r
        )
        self.batches = Counter("jieneng_ingest_batches", "Committed batches", registry=r)
        self.db_errors = Counter(
            "jieneng_ingest_db_errors", "Failed write attempts (retried)", registry=r
        )
        self.reconnects = Counter(
            "jieneng_ingest_broker_connects", "Connections to the broker", registry=r
        )
        self.queue_depth = Gauge(
            "jieneng_ingest_queue_depth", "Messages waiting in the bounded queue", registry=r
        )
        self.commit_lag = Gauge(
            "jieneng_ingest_commit_lag_seconds",
            "Receipt of the oldest message of the last batch to its commit",
            registry=r,
        )
        self.last_commit = Gauge(
            "jieneng_ingest_last_commit_timestamp_seconds",
            "Unix time of the last committed batch (alert when it stops moving)",
            registry=r,
        )
        self.commit_lag_hist = Histogram(
            "jieneng_ingest_commit_lag",
            "Receipt-to-commit time of batches (seconds)",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        )
        self.connected = Gauge(
            "jieneng_ingest_broker_connected", "1 while connected to the broker", registry=r
        )

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        start_http_server(port, addr=host, registry=self.registry)

    def snapshot(self) -> dict[str, float]:
        """Current values by short name, for the structured log line and for tests."""
        out: dict[str, float] = {}
        for metric in self.registry.collect():
            for sample in metric.samples:
                if sample.name.endswith(("_created", "_bucket", "_count", "_sum")):
                    continue
                name = sample.name.removeprefix("jieneng_ingest_").removesuffix("_total")
                if sample.labels:
                    name += "." + ".".join(sample.labels.values())
                out[name] = sample.value
        return out
