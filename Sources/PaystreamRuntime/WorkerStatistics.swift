import Foundation

/// Counters a running worker keeps for operators and tests (read from any thread).
public final class WorkerStatistics: @unchecked Sendable {
    private let lock = NSLock()
    private var forwarded: [String: Int] = [:]

    public init() {}

    /// Records forwarded to their key's canonical partition, per input topic, since start.
    public var forwardedByTopic: [String: Int] { lock.withLock { forwarded } }

    func addForwarded(_ counts: [String: Int]) {
        guard !counts.isEmpty else { return }
        lock.withLock { forwarded.merge(counts, uniquingKeysWith: +) }
    }
}
