import CoreMetrics
import Foundation
import Metrics
import Prometheus
import Synchronization

/// The daemon's metrics: recorded through swift-metrics, kept and rendered in Prometheus' text
/// format by swift-prometheus. Every name is in `catalog` with its help text (swift-metrics has
/// no help, so it is added when rendering), and every label is a fixed set (stage, topic,
/// partition, code, reason, outcome) — never a payer, merchant or payment id.
public enum PaystreamMetrics {
    /// name → help, for every metric a daemon may expose.
    public static let catalog: [String: String] = [
        "paystream_records_consumed_total": "Records read from Kafka and decided, per input topic.",
        "paystream_records_produced_total": "Outbox messages delivered to Kafka, per topic.",
        "paystream_records_forwarded_total": "Records that arrived off their key's partition and were forwarded to the repartition topic, per input topic.",
        "paystream_dead_letters_total": "Records parked on a dead-letter topic, per code.",
        "paystream_rejections_total": "Requests answered with a rejection, per reason.",
        "paystream_reference_refused_total": "Reference records not applied (invalid, or outside the configured bounds), per topic; the key keeps its previous value.",
        "paystream_decision_seconds": "Time to decide one partition's batch in its SQLite transaction.",
        "paystream_batch_records": "Records per polled batch.",
        "paystream_outbox_backlog": "Outbox messages decided but not yet delivered to Kafka, as the loop knows them.",
        "paystream_consumer_lag": "Records after the last one decided, up to the partition's end as the last fetch saw it.",
        "paystream_partitions_owned": "Partitions (shards) this instance owns.",
        "paystream_rebalances_total": "Partition assignments and revocations, per kind.",
        "paystream_webhook_deliveries_total": "Webhook delivery attempts, per outcome (delivered, retry, failed, gone, disabled).",
        "paystream_changelog_records_total": "Shard transactions confirmed on the stage's changelog topic.",
        "paystream_changelog_bytes_total": "Patchset bytes confirmed on the stage's changelog topic.",
        "paystream_restore_records_total": "Changelog records applied to restore shards.",
        "paystream_restore_bytes_total": "Patchset bytes applied to restore shards.",
        "paystream_restore_seconds_total": "Seconds spent restoring shards from the changelog.",
        "paystream_restoring_partitions": "Shards being restored from the changelog now.",
        "paystream_restore_snapshots_total": "Restores that started from a snapshot (used), and snapshots tried and refused (refused).",
        "paystream_claims_total": "Partitions this instance claimed in their changelog after restoring them.",
        "paystream_partitions_fenced_total": "Shards let go because another instance claimed their partition (this one was cut off).",
        "paystream_snapshots_total": "Shard snapshots published or failed, per result.",
        "paystream_snapshot_bytes_total": "Bytes of shard snapshots published.",
        "paystream_snapshot_last_seconds": "The last snapshot's time from copy to published.",
        "paystream_snapshot_last_cpu_seconds": "CPU seconds the last snapshot's copy and checksum took.",
        "paystream_snapshot_age_seconds": "Seconds since the newest snapshot of an owned shard this instance published or started from (0: unknown).",
        "paystream_standby_partitions": "Partitions this instance keeps standby copies of.",
        "paystream_standby_lag_records": "Changelog offsets between a standby copy and the end of its log when last seen.",
        "paystream_channel_calls_total": "Calls the channel gateway made, per channel, call and outcome (accepted, paid, awaiting_payment, closed, not_found, already_paid, refunded, refund_pending, refused, unknown).",
        "paystream_channel_notifications_total": "Channel notifications the gateway received, per channel and result (accepted, duplicate_at_edge, refused codes such as bad_signature, stale_timestamp, signature_probe, unroutable, not_written).",
        "paystream_ready": "1 when the instance is ready: group joined, reference data caught up, producer delivering.",
    ]

    public static let registry = PrometheusCollectorRegistry()
    private static let bootstrapped = Mutex(false)

    /// Makes swift-metrics record into `registry`, once per process (later calls do nothing).
    public static func bootstrap() {
        let first = bootstrapped.withLock { done in
            defer { done = true }
            return !done
        }
        guard first else { return }
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [.milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
                                                   .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
                                                   .seconds(1), .seconds(2), .seconds(5), .seconds(10)]
        factory.valueHistogramBuckets["paystream_batch_records"] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000]
        MetricsSystem.bootstrap(factory)
    }

    /// A request answered with a rejection (counted when decided; a batch retried after a
    /// failure may count one twice).
    public static func rejected(stage: String, reason: String) {
        Counter(label: "paystream_rejections_total", dimensions: [("stage", stage), ("reason", reason)]).increment()
    }

    /// A webhook attempt's outcome: delivered, retry, failed, gone, disabled.
    public static func webhookDelivery(outcome: String) {
        Counter(label: "paystream_webhook_deliveries_total", dimensions: [("outcome", outcome)]).increment()
    }

    /// A call the channel gateway made and what it came to.
    public static func channelCall(channel: String, action: String, outcome: String) {
        Counter(label: "paystream_channel_calls_total", dimensions: [("channel", channel), ("call", action), ("outcome", outcome)]).increment()
    }

    /// A notification the channel gateway received and what became of it.
    public static func channelNotification(channel: String, result: String) {
        Counter(label: "paystream_channel_notifications_total", dimensions: [("channel", channel), ("result", result)]).increment()
    }

    /// The metrics in Prometheus' text format 0.0.4, with a `# HELP` line for each family.
    public static func exposition() -> String {
        let text = registry.emitToString()
        var lines: [Substring] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("# TYPE ") {
                let name = line.dropFirst("# TYPE ".count).split(separator: " ").first.map(String.init) ?? ""
                if let help = catalog[name] { lines.append(Substring("# HELP \(name) \(help)")) }
            }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }
}
