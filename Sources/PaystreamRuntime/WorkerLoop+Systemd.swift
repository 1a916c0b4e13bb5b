import Foundation
import PaystreamKafka

/// What the loop last told systemd.
struct SystemdState {
    var ready = false
    var lastWatchdog: ContinuousClock.Instant?
    var lastStatus: ContinuousClock.Instant?
    /// How often `STATUS=` is refreshed.
    static let statusInterval: Duration = .seconds(5)
}

extension WorkerLoop {
    /// `READY=1` the first time the group hands this instance its partitions (possibly none):
    /// the group is joined, and reference data was caught up before the join.
    func announceReady() {
        worker.health.joined()
        worker.metrics.ready(true)
        guard let notify = worker.notify else { return }
        if !systemd.ready {
            systemd.ready = true
            notify.send(["READY": "1", "STATUS": status()])
            systemd.lastStatus = .now
        } else {
            tellSystemd(statusNow: true)
        }
    }

    /// Called once per loop iteration, after a poll: `WATCHDOG=1` every half `WatchdogSec=`, so
    /// that only a loop that goes round feeds the watchdog (a wedged one is restarted), and a
    /// fresh `STATUS=` now and then.
    func tellSystemd(statusNow: Bool = false) {
        let now = ContinuousClock.now
        if let notify = worker.notify, let ping = notify.watchdogPing, systemd.lastWatchdog.map({ now - $0 >= ping }) ?? true {
            notify.send(["WATCHDOG": "1"])
            systemd.lastWatchdog = now
        }
        guard statusNow || systemd.lastStatus.map({ now - $0 >= SystemdState.statusInterval }) ?? true else { return }
        systemd.lastStatus = now
        let text = status()
        if systemd.ready { worker.notify?.send(["STATUS": text]) }
    }

    /// `payment-worker: partitions 0,2 of 4; lag 12 (payments.requests[2] 12)`: the lag is the
    /// records after the last one decided, up to each partition's end as the last fetch saw it.
    func status() -> String {
        let owned = shards.keys.sorted()
        let high = consumer.cachedHighWatermarks(Array(positions.keys))
        var lag: [(TopicPartition, Int64)] = []
        for (tp, position) in positions {
            if let end = high[tp] { lag.append((tp, max(0, end - position))) }
        }
        // The same figures as metrics, refreshed with the status.
        for (tp, records) in lag { worker.metrics.lag(records, of: tp) }
        worker.metrics.owned(owned.count)
        worker.metrics.outboxBacklog(publisher.backlog)
        let total = lag.reduce(0) { $0 + $1.1 }
        let behind = lag.filter { $0.1 > 0 }.sorted { $0.1 > $1.1 }.prefix(3)
            .map { "\($0.0.topic)[\($0.0.partition)] \($0.1)" }.joined(separator: ", ")
        var text = "\(worker.stage.name): partitions \(owned.isEmpty ? "none" : owned.map(String.init).joined(separator: ",")) of \(routing.partitionCount)"
        text += "; lag \(total)" + (behind.isEmpty ? "" : " (\(behind))")
        if let standby {
            let copies = standby.status.sorted { $0.key < $1.key }
            text += "; standby " + (copies.isEmpty ? "none yet" : copies.map { "\($0.key)" + ($0.value.lag > 0 ? " (lag \($0.value.lag))" : "") }
                .joined(separator: ","))
        }
        if !fenced.isEmpty {
            text += "; cut off from " + fenced.sorted().map(String.init).joined(separator: ",") + " (claimed by another instance)"
        }
        if !newestSnapshots.isEmpty, let oldest = newestSnapshots.values.map(\.createdAt).min() {
            text += "; oldest snapshot \(Int(Date().timeIntervalSince(oldest)))s"
        }
        return text
    }
}
