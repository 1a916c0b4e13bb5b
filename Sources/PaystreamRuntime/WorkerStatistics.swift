import Foundation

/// Counters a running worker keeps for operators and tests (read from any thread).
public final class WorkerStatistics: @unchecked Sendable {
    private let lock = NSLock()
    private var forwarded: [String: Int] = [:]
    private var rounds = 0
    private var inFlight = 0

    public init() {}

    /// Records forwarded to their key's canonical partition, per input topic, since start.
    public var forwardedByTopic: [String: Int] { lock.withLock { forwarded } }

    /// The most times the loop started publish rounds between two polls (at most two: after the
    /// batch and after the timer; each time one round per shard with unsent rows and none on its way).
    public var maxPublishRoundsBetweenPolls: Int { lock.withLock { rounds } }

    /// The most publish rounds of one shard on their way at once (see `WorkerSettings.roundsInFlight`).
    public var maxRoundsInFlightPerShard: Int { lock.withLock { inFlight } }

    func noteRoundsInFlight(_ count: Int) {
        lock.withLock { inFlight = max(inFlight, count) }
    }

    func notePublishRounds(_ count: Int) {
        lock.withLock { rounds = max(rounds, count) }
    }

    func addForwarded(_ counts: [String: Int]) {
        guard !counts.isEmpty else { return }
        lock.withLock { forwarded.merge(counts, uniquingKeysWith: +) }
    }
}
