import AutoloaderPipeline
import Metrics
import Prometheus

public enum Telemetry {
    /// Metrics go to one Prometheus registry, served on `/metrics`. Called once, before the service starts.
    public static func bootstrap() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // A load takes from milliseconds (a small file into SQLite) to many minutes (gigabytes into Redshift).
        factory.durationHistogramBuckets[Metric.loadSeconds] = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800].map { .milliseconds(Int64($0 * 1000)) }
        // From a file's last change to its record: the settle window plus event or listing latency.
        factory.durationHistogramBuckets[Metric.discoveryLag] = [0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600].map { .milliseconds(Int64($0 * 1000)) }
        MetricsSystem.bootstrap(factory)
        return registry
    }
}
