import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import PaystreamKafka
import PaystreamStore
import Synchronization

/// Which partitions an instance keeps standby copies of (`standby.partitions`): a static rule,
/// since the group's assignor cannot place standbys. The instance keeps a copy of each such
/// partition it does not own.
public enum StandbyRule: Sendable, Equatable {
    case none
    /// Every partition of the stage.
    case all
    case partitions(Set<Int32>)

    public func includes(_ partition: Int32) -> Bool {
        switch self {
        case .none: false
        case .all: true
        case .partitions(let set): set.contains(partition)
        }
    }
}

/// Who uses a stage's state folder on this host: every worker holds a shared lock on
/// `<state_dir>/<stage>/.instances.lock`, an instance keeping standby copies an exclusive one — a
/// copy is written in the file an owner on the same folder would use, so an instance with
/// standbys must have the folder to itself.
final class StateFolderLock: Sendable {
    let path: String
    private let descriptor: Int32

    /// Throws, naming the file, when the lock is held the other way.
    init(stateDirectory: String, stage: String, exclusive: Bool) throws {
        let folder = "\(stateDirectory)/\(stage)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        path = "\(folder)/.instances.lock"
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw ChangelogError("cannot open \(path): \(String(cString: strerror(errno)))") }
        guard flock(descriptor, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) == 0 else {
            Glibc.close(descriptor)
            throw ShardLayoutError(description: exclusive
                ? "state folder \(folder) is used by another instance: an instance with standby copies (standby.partitions) needs a state folder of its own"
                : "state folder \(folder) is used by an instance that keeps standby copies (standby.partitions): give this instance a state folder of its own")
        }
    }

    deinit { Glibc.close(descriptor) }
}

/// How far a standby copy is.
public struct StandbyStatus: Sendable, Equatable {
    /// The last changelog record the copy holds.
    public var txn: Int64
    /// Log offsets between the copy and the end of the log when last seen (0: caught up).
    public var lag: Int64
    /// Whether the copy has reached the end of the log at least once.
    public var caughtUp: Bool
}

/// Warm copies of shards this instance does not own: each is restored once (from the newest
/// snapshot and the log after it, or the whole log) and then follows its changelog as it grows,
/// applying every record through the fence like any restore, in the same file the instance
/// would open as owner (`<state_dir>/<stage>/p<N>.sqlite`). When the group assigns such a
/// partition the worker `release`s the copy and restores it — only the log after it, plus the
/// claim: the promotion. When the partition is taken away again it is `resume`d as a standby.
/// One partition reader (no group) on a task of its own; a copy that turns out not to be a
/// prefix of the log is set aside and restored again.
final class StandbyReplicas: Sendable {
    private struct State {
        /// Partitions to keep copies of now: the rule's, less those this instance owns.
        var wanted: Set<Int32> = []
        /// Partitions whose file the standby task has open, or is restoring.
        var busy: Set<Int32> = []
        var status: [Int32: StandbyStatus] = [:]
        /// The copy being restored now (cancelled by a release: the owner restores it anyway).
        var restoring: (partition: Int32, task: Task<RestoreSummary, any Error>)?
        /// The rule's partitions, once the topic's partition count is known.
        var ruled: Set<Int32>?
        var owned: Set<Int32> = []
    }

    private let rule: StandbyRule
    private let stage: String
    private let stateDirectory: String
    private let topic: String
    private let snapshots: String?
    private let schema: StageSchema
    private let kafka: KafkaConfiguration
    private let synchronous: SynchronousMode
    private let logger: Logger
    private let state = Mutex(State())
    private let task = Mutex<Task<Void, Never>?>(nil)

    init(rule: StandbyRule, stage: String, stateDirectory: String, topic: String, snapshots: String?, schema: StageSchema,
         kafka: KafkaConfiguration, synchronous: SynchronousMode, logger: Logger) {
        self.rule = rule
        self.stage = stage
        self.stateDirectory = stateDirectory
        self.topic = topic
        self.snapshots = snapshots
        self.schema = schema
        self.kafka = kafka
        self.synchronous = synchronous
        self.logger = logger
    }

    func start() {
        task.withLock { $0 = Task { [self] in await run() } }
    }

    /// The copies and how far each is (not the partitions this instance owns).
    var status: [Int32: StandbyStatus] { state.withLock { $0.status } }

    /// The group assigned `partition` to this instance: the copy is closed (waited for), so the
    /// owner can restore the log after it and claim it.
    func release(_ partition: Int32) async {
        let restoring = state.withLock { state in
            state.owned.insert(partition)
            state.wanted.remove(partition)
            return state.restoring?.partition == partition ? state.restoring?.task : nil
        }
        restoring?.cancel()
        while state.withLock({ $0.busy.contains(partition) }) {
            // (Still waited for when the worker is being cancelled: the file must be closed first.)
            if Task.isCancelled { usleep(5_000) } else { try? await Task.sleep(for: .milliseconds(5)) }
        }
    }

    /// These partitions were taken away from this instance: those the rule names are kept as
    /// standby copies again.
    func resume(_ partitions: [Int32]) {
        state.withLock { state in
            state.owned.subtract(partitions)
            if let ruled = state.ruled { state.wanted = ruled.subtracting(state.owned) }
        }
    }

    func stop() async {
        let running = task.withLock { $0 }
        running?.cancel()
        await running?.value
    }

    private func path(_ partition: Int32) -> String {
        ShardStore.path(stateDirectory: stateDirectory, stage: stage, partition: partition)
    }

    private func run() async {
        var files: [Int32: ShardRestore] = [:]
        var assemblers: [Int32: ChangelogAssembler] = [:]
        var reader: KafkaPartitionReader?
        var reassign = false
        /// A copy whose restore failed is tried again after a pause.
        var retryAt: [Int32: ContinuousClock.Instant] = [:]
        func close(_ partition: Int32) {
            try? files.removeValue(forKey: partition)?.close()
            assemblers[partition] = nil
            reassign = true
            state.withLock {
                $0.busy.remove(partition)
                $0.status[partition] = nil
            }
        }
        /// Where each copy was (re)assigned from, until its first message or end shows the log still has it.
        var expected: [Int32: Int64] = [:]
        var firstSeen: [Int32: Int64] = [:]
        /// Sets a copy aside (kept for inspection) and lets it be restored again; the file is
        /// moved before the partition stops being busy, so a release never meets it half moved.
        func setAside(_ partition: Int32, reason: String, error: any Error) {
            try? files.removeValue(forKey: partition)?.close()
            let aside = (try? ShardStore.setAside(path: path(partition), reason: reason)) ?? "-"
            close(partition)
            logger.warning("standby copy cannot follow its changelog; set aside, restoring it again", metadata: [
                "kafka.partition": "\(partition)", "error": "\(error)", "shard.quarantined": "\(aside)"])
        }
        defer {
            for partition in Array(files.keys) { close(partition) }
        }
        while !Task.isCancelled {
            do {
                if reader == nil {
                    let made = try KafkaPartitionReader(configuration: kafka.withDefaults(["fetch.wait.max.ms": "100"]), logger: logger)
                    let count: Int32
                    do {
                        count = try await made.topicPartitionCounts()[topic] ?? 0
                        guard count > 0 else { throw ChangelogError("changelog topic \(topic) does not exist") }
                    } catch {
                        await made.close()
                        throw error
                    }
                    let ruled = Set((0..<count).filter(rule.includes))
                    state.withLock { $0.ruled = ruled; $0.wanted = ruled.subtracting($0.owned) }
                    reader = made
                    logger.info("standby copies kept", metadata: ["standby.partitions": "\(ruled.sorted())"])
                }
                let wanted = state.withLock { $0.wanted }
                for partition in files.keys where !wanted.contains(partition) { close(partition) }
                for partition in wanted.subtracting(files.keys).sorted() where retryAt[partition].map({ ContinuousClock.now >= $0 }) ?? true {
                    // Marked busy first: a release waits for the restore, then for the close.
                    let taken = state.withLock { state in
                        guard state.wanted.contains(partition) else { return false }
                        state.busy.insert(partition)
                        return true
                    }
                    guard taken else { continue }
                    do {
                        var restorer = ShardRestorer(path: path(partition), partition: partition, topic: topic, schema: schema, kafka: kafka,
                                                     synchronous: synchronous, logger: logger)
                        restorer.snapshots = snapshots
                        let task = Task { [restorer] in try await restorer.run() }
                        state.withLock { $0.restoring = (partition, task) }
                        defer { state.withLock { $0.restoring = nil } }
                        let summary = try await task.value
                        let file = try ShardRestore(path: path(partition), synchronous: synchronous, schema: schema)
                        files[partition] = file
                        assemblers[partition] = ChangelogAssembler()
                        reassign = true
                        state.withLock { $0.status[partition] = StandbyStatus(txn: file.position.lastTxn, lag: 0, caughtUp: true) }
                        logger.info("standby copy ready", metadata: [
                            "kafka.partition": "\(partition)", "changelog.txn": "\(summary.lastTxn)",
                            "restore.snapshot": "\(summary.snapshot?.id ?? "none")", "restore.records": "\(summary.records)",
                            "restore.seconds": "\(String(format: "%.3f", summary.seconds))"])
                        retryAt[partition] = nil
                    } catch {
                        close(partition)
                        if Task.isCancelled { break }
                        if error is CancellationError { continue }  // released: the owner restores it
                        retryAt[partition] = .now + .seconds(5)
                        logger.warning("standby copy cannot be restored; trying again", metadata: [
                            "kafka.partition": "\(partition)", "error": "\(error)"])
                    }
                }
                guard let reader else { continue }
                if reassign {
                    reassign = false
                    for partition in assemblers.keys { assemblers[partition] = ChangelogAssembler() }
                    expected = files.mapValues(\.position.logNextOffset)
                    try reader.assign(Dictionary(uniqueKeysWithValues: files.map {
                        (TopicPartition(topic, $0.key), StartOffset.offset($0.value.position.logNextOffset))
                    }))
                }
                guard !files.isEmpty else {
                    try await Task.sleep(for: .milliseconds(100))
                    continue
                }
                let poll = try await reader.poll(maxRecords: 2000, maxWait: .milliseconds(100))
                // A copy the log has moved past (truncated below a snapshot beyond it; the reader
                // resets to the log's start): it can never catch up, so it is restored again.
                var behind: [Int32: ChangelogBehind] = [:]
                // (The first message read, or with none the end reached: the log holds offsets contiguously.)
                for message in poll.records where files[message.partition] != nil && firstSeen[message.partition] == nil {
                    firstSeen[message.partition] = message.offset
                }
                for (tp, end) in poll.reachedEnd where tp.topic == topic && expected[tp.partition] != nil && firstSeen[tp.partition] == nil {
                    firstSeen[tp.partition] = end
                }
                for (partition, start) in expected {
                    guard let first = firstSeen[partition] else { continue }
                    expected[partition] = nil
                    if let late = ChangelogBehind(path: path(partition), position: start, firstRead: first) { behind[partition] = late }
                }
                firstSeen = [:]
                for (partition, late) in behind {
                    setAside(partition, reason: "behind", error: late)
                }
                var byPartition: [Int32: ([ChangelogRecord], Int64)] = [:]
                for message in poll.records where files[message.partition] != nil {
                    if let (record, next) = try assemblers[message.partition]!.add(message) {
                        byPartition[message.partition, default: ([], 0)].0.append(record)
                        byPartition[message.partition]!.1 = next
                    }
                }
                for (partition, (records, next)) in byPartition {
                    guard let file = files[partition] else { continue }
                    do {
                        try file.apply(records, logNextOffset: next)
                    } catch let divergence as ChangelogDivergence {
                        setAside(partition, reason: "diverged", error: divergence)
                    }
                }
                state.withLock { state in
                    for (partition, file) in files {
                        var status = state.status[partition] ?? StandbyStatus(txn: 0, lag: 0, caughtUp: false)
                        status.txn = file.position.lastTxn
                        if let end = poll.reachedEnd[TopicPartition(topic, partition)] {
                            status.lag = max(0, end - file.position.logNextOffset)
                            status.caughtUp = true
                        }
                        state.status[partition] = status
                    }
                }
            } catch is CancellationError {
                break
            } catch {
                if Task.isCancelled { break }
                logger.warning("standby copies: reading the changelog failed; trying again", metadata: ["error": "\(error)"])
                for partition in Array(files.keys) { close(partition) }
                if let old = reader { await old.close() }
                reader = nil
                try? await Task.sleep(for: .seconds(1))
            }
        }
        if let reader { await reader.close() }
    }
}
