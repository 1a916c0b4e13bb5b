/// When each owned shard is snapshotted: once `everyBytes` of changelog were published since its
/// last snapshot, or `every` after it if anything was published since (a shard that changed
/// nothing is not copied again). One snapshot per shard at a time; a failed one is tried again
/// after `retryAfter`. A value, tested without I/O; the worker does the copying and publishing.
struct SnapshotSchedule: Sendable {
    struct Limits: Sendable {
        /// 0: never by size.
        var everyBytes: Int
        /// .zero: never by time.
        var every: Duration
        var retryAfter: Duration = .seconds(60)
        var isOff: Bool { everyBytes <= 0 && every <= .zero }
    }

    struct Shard: Sendable, Equatable {
        /// Changelog bytes published since the last snapshot (or since the shard was opened).
        var bytes: Int
        /// When the last snapshot was taken (or the shard opened: the clock starts there).
        var since: ContinuousClock.Instant
        /// The bytes counted when the running snapshot started (nil: none running).
        var runningFrom: Int?
        var retryAt: ContinuousClock.Instant?
    }

    let limits: Limits
    private(set) var shards: [Int32: Shard] = [:]

    init(limits: Limits) {
        self.limits = limits
    }

    /// A shard opened with `bytes` of log already past its newest snapshot (what its restore read).
    mutating func open(_ partition: Int32, bytes: Int, now: ContinuousClock.Instant) {
        shards[partition] = Shard(bytes: bytes, since: now)
    }

    mutating func close(_ partition: Int32) {
        shards[partition] = nil
    }

    mutating func published(_ bytes: Int, partition: Int32) {
        shards[partition]?.bytes += bytes
    }

    /// The shards to snapshot now, in partition order.
    func due(now: ContinuousClock.Instant) -> [Int32] {
        guard !limits.isOff else { return [] }
        return shards.keys.sorted().filter { partition in
            let shard = shards[partition]!
            guard shard.runningFrom == nil, shard.bytes > 0, shard.retryAt.map({ now >= $0 }) ?? true else { return false }
            return (limits.everyBytes > 0 && shard.bytes >= limits.everyBytes) || (limits.every > .zero && now - shard.since >= limits.every)
        }
    }

    mutating func started(_ partition: Int32) {
        guard let shard = shards[partition] else { return }
        shards[partition]!.runningFrom = shard.bytes
    }

    /// The running snapshot is out (`published`) or failed: what was published meanwhile counts
    /// towards the next one.
    mutating func finished(_ partition: Int32, published: Bool, now: ContinuousClock.Instant) {
        guard let shard = shards[partition], let from = shard.runningFrom else { return }
        shards[partition]!.runningFrom = nil
        if published {
            shards[partition]!.bytes = shard.bytes - from
            shards[partition]!.since = now
            shards[partition]!.retryAt = nil
        } else {
            shards[partition]!.retryAt = now + limits.retryAfter
        }
    }
}
