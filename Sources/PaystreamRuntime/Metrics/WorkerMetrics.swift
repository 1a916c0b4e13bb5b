import CoreMetrics
import Foundation
import Metrics
import PaystreamKafka
import PaystreamStore

/// The runtime's metrics of one stage (fixed labels: stage, topic, partition, code, kind).
struct WorkerMetrics: Sendable {
    let stage: String

    func consumed(_ count: Int, topic: String) {
        Counter(label: "paystream_records_consumed_total", dimensions: [("stage", stage), ("topic", topic)]).increment(by: count)
    }

    func produced(_ count: Int, topic: String) {
        Counter(label: "paystream_records_produced_total", dimensions: [("stage", stage), ("topic", topic)]).increment(by: count)
    }

    func forwarded(_ count: Int, topic: String) {
        Counter(label: "paystream_records_forwarded_total", dimensions: [("stage", stage), ("topic", topic)]).increment(by: count)
    }

    func deadLetter(code: String) {
        Counter(label: "paystream_dead_letters_total", dimensions: [("stage", stage), ("code", code)]).increment()
    }

    func decided(batchOf records: Int, in duration: Duration) {
        Metrics.Timer(label: "paystream_decision_seconds", dimensions: [("stage", stage)])
            .recordNanoseconds(duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }

    func polled(_ records: Int) {
        Recorder(label: "paystream_batch_records", dimensions: [("stage", stage)]).record(records)
    }

    func rebalance(_ kind: String) {
        Counter(label: "paystream_rebalances_total", dimensions: [("stage", stage), ("kind", kind)]).increment()
    }

    func outboxBacklog(_ rows: Int) {
        Gauge(label: "paystream_outbox_backlog", dimensions: [("stage", stage)]).record(rows)
    }

    func owned(_ partitions: Int) {
        Gauge(label: "paystream_partitions_owned", dimensions: [("stage", stage)]).record(partitions)
    }

    func lag(_ records: Int64, of tp: TopicPartition) {
        Gauge(label: "paystream_consumer_lag", dimensions: [("stage", stage), ("topic", tp.topic), ("partition", "\(tp.partition)")])
            .record(records)
    }

    func changelogPublished(_ records: [ChangelogRecord]) {
        Counter(label: "paystream_changelog_records_total", dimensions: [("stage", stage)]).increment(by: records.count)
        Counter(label: "paystream_changelog_bytes_total", dimensions: [("stage", stage)])
            .increment(by: records.reduce(0) { $0 + $1.patchset.count })
    }

    /// Another instance claimed a partition this one still had (`WorkerLoop.fence`).
    func claimed() {
        Counter(label: "paystream_claims_total", dimensions: [("stage", stage)]).increment()
    }

    func snapshotPublished(bytes: Int64, seconds: Double, cpuSeconds: Double) {
        Counter(label: "paystream_snapshots_total", dimensions: [("stage", stage), ("result", "published")]).increment()
        Counter(label: "paystream_snapshot_bytes_total", dimensions: [("stage", stage)]).increment(by: Int(bytes))
        Gauge(label: "paystream_snapshot_last_seconds", dimensions: [("stage", stage)]).record(seconds)
        Gauge(label: "paystream_snapshot_last_cpu_seconds", dimensions: [("stage", stage)]).record(cpuSeconds)
    }

    func snapshotFailed() {
        Counter(label: "paystream_snapshots_total", dimensions: [("stage", stage), ("result", "failed")]).increment()
    }

    /// Seconds since the newest snapshot of an owned shard (nil: the shard is let go).
    func snapshotAge(_ seconds: Double?, partition: Int32) {
        Gauge(label: "paystream_snapshot_age_seconds", dimensions: [("stage", stage), ("partition", "\(partition)")]).record(seconds ?? 0)
    }

    /// The standby copies and how far behind the log each is (offsets; partitions no longer
    /// kept are not reported again).
    func standby(_ status: [Int32: StandbyStatus]) {
        Gauge(label: "paystream_standby_partitions", dimensions: [("stage", stage)]).record(status.count)
        for (partition, copy) in status {
            Gauge(label: "paystream_standby_lag_records", dimensions: [("stage", stage), ("partition", "\(partition)")]).record(copy.lag)
        }
    }

    func fenced() {
        Counter(label: "paystream_partitions_fenced_total", dimensions: [("stage", stage)]).increment()
    }

    func restored(_ summary: RestoreSummary) {
        Counter(label: "paystream_restore_records_total", dimensions: [("stage", stage)]).increment(by: summary.records)
        Counter(label: "paystream_restore_bytes_total", dimensions: [("stage", stage)]).increment(by: summary.bytes)
        Counter(label: "paystream_restore_seconds_total", dimensions: [("stage", stage)]).increment(by: Int(summary.seconds.rounded(.up)))
        if summary.snapshot != nil {
            Counter(label: "paystream_restore_snapshots_total", dimensions: [("stage", stage), ("result", "used")]).increment()
        }
        if summary.refusedSnapshots > 0 {
            Counter(label: "paystream_restore_snapshots_total", dimensions: [("stage", stage), ("result", "refused")])
                .increment(by: summary.refusedSnapshots)
        }
    }

    func restoring(_ partitions: Int) {
        Gauge(label: "paystream_restoring_partitions", dimensions: [("stage", stage)]).record(partitions)
    }

    func ready(_ ready: Bool) {
        Gauge(label: "paystream_ready", dimensions: [("stage", stage)]).record(ready ? 1 : 0)
    }
}
