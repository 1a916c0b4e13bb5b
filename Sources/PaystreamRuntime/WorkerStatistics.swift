import Foundation
import Synchronization

/// Counters a running worker keeps for operators and tests (read from any thread).
public final class WorkerStatistics: Sendable {
    private struct Counts {
        var forwarded: [String: Int] = [:]
        var rounds = 0
        var inFlight = 0
        var restores: [Int32: RestoreSummary] = [:]
    }

    private let counts = Mutex(Counts())

    public init() {}

    /// Records forwarded to their key's canonical partition, per input topic, since start.
    public var forwardedByTopic: [String: Int] { counts.withLock { $0.forwarded } }

    /// The most times the loop started publish rounds between two polls (at most two: after the
    /// batch and after the timer; each time one round per shard with unsent rows and none on its way).
    public var maxPublishRoundsBetweenPolls: Int { counts.withLock { $0.rounds } }

    /// The most publish rounds of one shard on their way at once (see `WorkerSettings.roundsInFlight`).
    public var maxRoundsInFlightPerShard: Int { counts.withLock { $0.inFlight } }

    /// The last restore of each partition this worker took (what it read: a snapshot, the log
    /// after it or after the file's own position).
    public var restores: [Int32: RestoreSummary] { counts.withLock { $0.restores } }

    func noteRoundsInFlight(_ count: Int) {
        counts.withLock { $0.inFlight = max($0.inFlight, count) }
    }

    func notePublishRounds(_ count: Int) {
        counts.withLock { $0.rounds = max($0.rounds, count) }
    }

    func addForwarded(_ counts: [String: Int]) {
        guard !counts.isEmpty else { return }
        self.counts.withLock { $0.forwarded.merge(counts, uniquingKeysWith: +) }
    }

    func noteRestore(_ summary: RestoreSummary, partition: Int32) {
        counts.withLock { $0.restores[partition] = summary }
    }
}
