import Foundation
import GRDB
import Logging
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaystreamRuntime
import PaystreamStore

/// A stage on temporary shards with a `ManualClock`, and no broker: the harness plays the topics.
///
/// `send` publishes records as an upstream producer would (each partitioner's choice of
/// partition), and the stage decides them at once exactly as its worker decides a polled batch
/// (`OfflineShards`): routing, forwarding, inbox, dead letters, one transaction per partition.
/// What the stage publishes is kept in order with the offsets a topic would give it; what the
/// stage itself consumes (its forwarded copies on the repartition topics) is fed back until
/// nothing is left. `advance(by:)` moves the clock and runs the stage's timer.
public final class StageHarness<S: Stage>: @unchecked Sendable {
    public let stage: S
    public let topics: TopicNames
    public let clock: ManualClock
    public let stateDirectory: String
    public let partitionCount: Int32
    private let shards: OfflineShards<S>
    private let lock = NSLock()
    private var nextOffsets: [String: [Int32: Int64]] = [:]
    private var publishedRecords: [ConsumedRecord] = []

    /// - Parameter partitions: the partition count of every topic.
    public init(_ stage: S, partitions: Int32 = 2, clock: ManualClock = ManualClock(), topics: TopicNames = TopicNames(),
                stateDirectory: String? = nil, logLevel: Logger.Level = .critical) throws {
        self.stage = stage
        self.topics = topics
        self.clock = clock
        partitionCount = partitions
        self.stateDirectory = try stateDirectory ?? temporaryDirectory("paystream-harness")
        var logger = Logger(label: "harness.\(stage.name)")
        logger.logLevel = logLevel
        shards = OfflineShards(stage: stage, stateDirectory: self.stateDirectory, topics: topics, partitionCount: partitions,
                               clock: clock, logger: logger)
    }

    deinit { shards.close() }

    // MARK: input

    /// Publishes `messages` to `topic`, partitioned as `partitioning` says, and lets the stage
    /// decide them (each partition's records as one batch). Returns the records as consumed.
    @discardableResult
    /// - Parameter sealedBy: a test playing a channel or the bank: each record sealed with that
    ///   signer's test key (`TestAnswerKeys`), besides `headers`.
    public func send(topic: String, _ messages: [(key: String?, value: Data)], partitioning: UpstreamPartitioning = .murmur2,
                     headers: [KafkaHeader] = [], sealedBy signer: String? = nil) throws -> [ConsumedRecord] {
        try send(messages.map { message in
            let key = message.key.map { Array($0.utf8) }
            let seal = signer.map { TestAnswerKeys.headers(signer: $0, topic: topic, key: message.key, value: message.value) } ?? []
            return OutgoingMessage(topic: topic, key: key, value: Array(message.value), headers: headers + seal,
                                   partition: partitioning.partitionWithoutBroker(of: key ?? [], partitionCount: partitionCount))
        })
    }

    /// Publishes messages exactly as given (topic, partition, key, headers); a message without a
    /// partition goes where murmur2 puts its key. Then the stage decides them.
    @discardableResult
    public func send(_ messages: [OutgoingMessage]) throws -> [ConsumedRecord] {
        let records = messages.map { message in
            append(topic: message.topic,
                   partition: message.partition ?? KeyPartitioner.partition(of: message.key ?? [], partitionCount: partitionCount),
                   key: message.key, value: message.value, headers: message.headers)
        }
        let byTopic = Dictionary(grouping: records, by: \.topic)
        for topic in byTopic.keys.sorted() { try decide(byTopic[topic]!) }
        try pump()
        return records
    }

    /// Moves the clock and runs the stage's timer once (as the worker does on its interval).
    public func advance(by seconds: TimeInterval) throws {
        clock.advance(by: seconds)
        try tick()
    }

    /// Runs the stage's timer on every shard opened so far, then delivers what it published.
    public func tick() throws {
        try shards.tick()
        try pump()
    }

    private func decide(_ records: [ConsumedRecord]) throws {
        let byPartition = Dictionary(grouping: records, by: \.partition)
        for partition in byPartition.keys.sorted() { try shards.decide(byPartition[partition]!, partition: partition) }
    }

    /// Publishes the outbox; what the stage itself consumes goes back in, until nothing is left.
    private func pump() throws {
        let consumed = Set(stage.consumedTopics(in: topics))
        while true {
            let taken = try shards.takeOutbox()
            guard !taken.isEmpty else { return }
            var feedBack: [ConsumedRecord] = []
            for (_, message) in taken {
                let partition = message.partition
                    ?? KeyPartitioner.partition(of: message.key ?? [], partitionCount: partitionCount)
                let record = append(topic: message.topic, partition: partition, key: message.key, value: Array(message.value),
                                    headers: message.headers.sorted { $0.key < $1.key }.map { KafkaHeader(key: $0.key, string: $0.value) })
                lock.withLock { publishedRecords.append(record) }
                if consumed.contains(message.topic) { feedBack.append(record) }
            }
            try decide(feedBack)
        }
    }

    private func append(topic: String, partition: Int32, key: [UInt8]?, value: [UInt8], headers: [KafkaHeader]) -> ConsumedRecord {
        lock.withLock {
            let offset = nextOffsets[topic]?[partition] ?? 0
            nextOffsets[topic, default: [:]][partition] = offset + 1
            return ConsumedRecord(topic: topic, partition: partition, offset: offset, key: key, value: value, headers: headers,
                                  timestampMs: Int64(clock.now().timeIntervalSince1970 * 1000))
        }
    }

    // MARK: output and state

    /// Everything the stage published, in order (its forwarded copies included).
    public var published: [ConsumedRecord] { lock.withLock { publishedRecords } }

    public func published(on topic: String) -> [ConsumedRecord] { published.filter { $0.topic == topic } }

    /// The messages published on `topic` that decode as `T`.
    public func decoded<T: Decodable>(_ type: T.Type, on topic: String) -> [T] {
        published(on: topic).compactMap { try? Wire.decode(T.self, from: Data($0.value)) }
    }

    /// Every dead letter the stage published, on any dead-letter topic.
    public var deadLetters: [DeadLetterMessage] {
        published.filter { topics.isDeadLetterTopic($0.topic) }.compactMap { try? Wire.decode(DeadLetterMessage.self, from: Data($0.value)) }
    }

    /// Runs the stage's companion (`Stage.companion`) on every shard opened so far, as a worker
    /// runs it beside its loop, until `done` holds; then stops it as a revocation would. Throws
    /// when `done` does not hold within `timeout`.
    /// - Parameter clock: the companion's clock; the harness's by default (a `SystemClock` lets
    ///   retry delays pass by themselves).
    public func runCompanion(clock: (any PaystreamClock)? = nil, timeout: Duration = .seconds(60),
                             until done: @escaping @Sendable () throws -> Bool) async throws {
        guard let companion = stage.companion else { return }
        var logger = Logger(label: "harness.\(stage.name).companion")
        logger.logLevel = .critical
        let clock = clock ?? self.clock
        let tasks = try shards.openPartitions.map { partition in
            let shard = try shards.shard(partition)
            return Task { [logger] in await companion.run(shard: shard, partition: partition, clock: clock, logger: logger) }
        }
        defer { for task in tasks { task.cancel() } }
        let deadline = ContinuousClock.now + timeout
        while try !done() {
            guard ContinuousClock.now < deadline else {
                for task in tasks { task.cancel() }
                for task in tasks { await task.value }
                throw HarnessTimeout(description: "the companion did not get there within \(timeout)")
            }
            shards.publishChangelog()
            try await Task.sleep(for: .milliseconds(20))
        }
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
    }

    /// Every changelog record of `partition`'s shard so far, in order: what the worker would
    /// have published on `<stage>.changelog`.
    public func changelog(_ partition: Int32) -> [ChangelogRecord] { shards.changelog(partition) }

    /// The partitions whose shards were opened so far.
    public var openPartitions: [Int32] { shards.openPartitions }

    /// Runs `body` on every shard opened so far (each a partition that received input).
    public func read<T>(_ body: (Database) throws -> T) throws -> [T] {
        try shards.openPartitions.map { try shards.shard($0).read(body) }
    }

    /// Closes the shards (the files stay under `stateDirectory` for `paystream verify` and the like).
    public func close() { shards.close() }
}

extension UpstreamPartitioning {
    /// The partition this producer's partitioner picks for `key`, computed here (for the stage
    /// harness, which has no librdkafka producer): murmur2 for the Java client's rule, CRC32 for
    /// librdkafka's `consistent_random` (an empty key included, where librdkafka picks at random).
    public func partitionWithoutBroker(of key: [UInt8], partitionCount: Int32) -> Int32 {
        switch self {
        case .murmur2: KeyPartitioner.partition(of: key, partitionCount: partitionCount)
        case .librdkafkaDefault: Int32(CRC32.checksum(key) % UInt32(partitionCount))
        case .explicit: partition(of: String(decoding: key, as: UTF8.self), partitionCount: partitionCount)!
        }
    }
}

public struct HarnessTimeout: Error, CustomStringConvertible {
    public let description: String
}

extension StageHarness {
    /// Rebuilds every open shard from its changelog records alone, in a new file, and compares
    /// the copy with the shard table by table: the differences, empty when every copy equals
    /// its original (what a host that lost its disk would get back).
    public func changelogRestoreDifferences() throws -> [String] {
        var differences: [String] = []
        let folder = try temporaryDirectory("paystream-restore")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for partition in openPartitions {
            let records = changelog(partition)
            let copy = "\(folder)/p\(partition).sqlite"
            let restore = try ShardRestore(path: copy, schema: stage.schema)
            let applied = try restore.apply(records, logNextOffset: Int64(records.count))
            try restore.close()
            if applied != records.count { differences.append("p\(partition): \(applied) of \(records.count) records applied") }
            let path = ShardStore.path(stateDirectory: stateDirectory, stage: stage.name, partition: partition)
            differences += try ShardDump.of(path: copy).differences(from: ShardDump.of(path: path)).map { "p\(partition): \($0)" }
        }
        return differences
    }
}
