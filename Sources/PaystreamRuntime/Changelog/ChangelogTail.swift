import Foundation
import Logging
import PaystreamKafka
import PaystreamStore
import Synchronization

/// What reading an owned shard's changelog back finds.
enum TailEvent: Equatable, Sendable {
    /// The owner's record `txn`, in order under its claim, ending before `nextOffset`: confirmed.
    case readBack(partition: Int32, txn: Int64, nextOffset: Int64)
    /// A newer claim by someone else: the partition is no longer this instance's.
    case fenced(partition: Int32, by: ChangelogClaimant)
}

/// One owned changelog partition read back from just after the owner's claim, as a value
/// (tested without a broker): the fence starts at the owner's claim, so only its own records
/// count, in `txn` order; a newer claim fences the owner. Only the messages' headers are read
/// (every chunk carries its record's): a record counts once its chunks arrived in a row; the
/// owner wrote it, and its checksum is checked by whoever restores it.
struct TailFollower: Sendable {
    let partition: Int32
    let owner: ChangelogClaimant
    private(set) var fence: ChangelogFence
    /// The last record read back in order.
    private(set) var through: Int64
    /// The offset after the last whole record read: where reading resumes after a reassignment.
    private(set) var resumeOffset: Int64
    private(set) var isFenced = false
    /// The record whose chunks are arriving: its number, and the chunk expected next.
    private var open: (txn: Int64, next: Int)?

    init(partition: Int32, owner: ChangelogClaimant, through: Int64, from offset: Int64) {
        self.partition = partition
        self.owner = owner
        fence = ChangelogFence(current: owner)
        self.through = through
        resumeOffset = offset
    }

    /// Reading restarts at `resumeOffset`: a record cut by the restart is read whole again.
    mutating func restart() { open = nil }

    mutating func take(_ message: ConsumedRecord) throws -> TailEvent? {
        guard !isFenced, message.offset >= resumeOffset else { return nil }
        let chunk = try ChangelogWire.chunk(of: message)
        if chunk.index == 1 {
            open = (chunk.record.txn, 2)
        } else if let current = open, current.txn == chunk.record.txn, current.next == chunk.index {
            open = (current.txn, current.next + 1)
        } else {
            open = nil
            return nil
        }
        guard chunk.index == chunk.count else { return nil }
        open = nil
        resumeOffset = message.offset + 1
        switch fence.admit(chunk.record) {
        case .claimed:
            isFenced = true
            return .fenced(partition: partition, by: fence.current)
        case .admitted:
            guard chunk.record.txn == through + 1 else { return nil }
            through = chunk.record.txn
            return .readBack(partition: partition, txn: chunk.record.txn, nextOffset: message.offset + 1)
        case .fenced:
            return nil
        }
    }
}

/// Reads the changelog partitions of the shards a worker owns back from the broker, as they
/// grow (`TailFollower` each), and hands what it finds to the worker loop (`drain`), waking
/// its poll. One partition reader (no group) on its own task.
final class ChangelogTail: Sendable {
    private struct State {
        var followers: [Int32: TailFollower] = [:]
        /// What was found, and when.
        var events: [(at: ContinuousClock.Instant, event: TailEvent)] = []
        /// The followed partitions changed: the reader is assigned afresh.
        var reassign = true
        var failure: String?
    }

    private let topic: String
    private let reader: KafkaPartitionReader
    private let state = Mutex(State())
    private let task = Mutex<Task<Void, Never>?>(nil)
    private let logger: Logger
    /// Fault injection for tests: what is found is handed over only this much later (a slow
    /// read-back: an owner cut off that has not noticed yet keeps deciding meanwhile).
    private let delay: Duration

    init(topic: String, kafka: KafkaConfiguration, delay: Duration = .zero, logger: Logger) throws {
        self.topic = topic
        self.logger = logger
        self.delay = delay
        reader = try KafkaPartitionReader(configuration: kafka, values: false, logger: logger)
    }

    /// Starts reading; `wake` is called when there is something to `drain`.
    func start(wake: @escaping @Sendable () -> Void) {
        task.withLock { $0 = Task { [self] in await run(wake: wake) } }
    }

    /// The cluster's topics and their partition counts (one metadata request on the tail's client).
    func topicPartitionCounts() async throws -> [String: Int32] {
        try await reader.topicPartitionCounts()
    }

    /// Reads `partition` back from `offset` (just after the owner's claim), its records from `through + 1` on.
    func follow(_ partition: Int32, owner: ChangelogClaimant, through: Int64, from offset: Int64) {
        state.withLock {
            $0.followers[partition] = TailFollower(partition: partition, owner: owner, through: through, from: offset)
            $0.reassign = true
        }
    }

    func unfollow(_ partitions: [Int32]) {
        state.withLock { state in
            for partition in partitions { state.followers[partition] = nil }
            state.reassign = true
        }
    }

    /// What was found since the last call; throws if reading failed.
    func drain() throws -> [TailEvent] {
        let now = ContinuousClock.now, delay = self.delay
        return try state.withLock { state in
            if let failure = state.failure { throw ChangelogError("reading the changelog back failed: \(failure)") }
            let due = state.events.prefix { now - $0.at >= delay }
            state.events.removeFirst(due.count)
            return due.map(\.event)
        }
    }

    func stop() async {
        let running = task.withLock { $0 }
        running?.cancel()
        await running?.value
        await reader.close()
    }

    private func run(wake: @escaping @Sendable () -> Void) async {
        while !Task.isCancelled {
            do {
                let assignment: [TopicPartition: StartOffset]? = state.withLock { state in
                    guard state.reassign else { return nil }
                    state.reassign = false
                    for partition in state.followers.keys { state.followers[partition]!.restart() }
                    return Dictionary(uniqueKeysWithValues: state.followers.map {
                        (TopicPartition(topic, $0.key), StartOffset.offset($0.value.resumeOffset))
                    })
                }
                if let assignment { try reader.assign(assignment) }
                let poll = try await reader.poll(maxRecords: 2000, maxWait: .milliseconds(100))
                guard !poll.records.isEmpty else { continue }
                let now = ContinuousClock.now
                let found = try state.withLock { state in
                    let before = state.events.count
                    for message in poll.records where state.followers[message.partition] != nil {
                        if let event = try state.followers[message.partition]!.take(message) { state.events.append((now, event)) }
                    }
                    return state.events.count > before
                }
                if found { wake() }
            } catch is CancellationError {
                return
            } catch {
                logger.error("cannot read the changelog back", metadata: ["kafka.topic": "\(topic)", "error": "\(error)"])
                state.withLock { $0.failure = "\(error)" }
                wake()
                return
            }
        }
    }
}
