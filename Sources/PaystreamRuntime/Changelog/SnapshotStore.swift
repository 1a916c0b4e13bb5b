import Foundation
import Logging
import PaystreamKafka
import PaystreamStore

/// One partition of a stage's `<stage>.snapshots` topic: reading its catalog, fetching a
/// snapshot's bytes, publishing one. A missing topic means no snapshots (restores read the whole
/// changelog; nothing is published, and the worker says so once).
public struct SnapshotStore: Sendable {
    public let topic: String
    public let partition: Int32
    public let kafka: KafkaConfiguration
    public let logger: Logger
    /// Reading gives up when neither a message nor the end arrived for this long.
    public var stallTimeout: Duration = .seconds(60)

    public init(topic: String, partition: Int32, kafka: KafkaConfiguration, logger: Logger) {
        self.topic = topic
        self.partition = partition
        self.kafka = kafka
        self.logger = logger
    }

    /// Every snapshot the partition holds, from headers only; nil when the topic does not exist
    /// (or has fewer partitions than the stage's inputs).
    public func catalog() async throws -> SnapshotCatalog? {
        var catalog = SnapshotCatalog()
        let found = try await scan(from: 0, values: false) { message in
            catalog.add(message)
            return false
        }
        return found ? catalog : nil
    }

    /// Writes the bytes of the snapshot `entry` names into `path` (replaced), in chunk order.
    /// Throws if a chunk is not where the catalog saw it. The caller checks the bytes against
    /// the manifest (`ShardSnapshot.install`).
    public func download(_ entry: SnapshotCatalog.Entry, into path: String) async throws {
        let offsets = entry.chunkOffsets.compactMap { $0 }
        guard offsets.count == entry.chunkOffsets.count, let first = offsets.min() else {
            throw ChangelogError("snapshot \(entry.manifest.id) is partial: \(offsets.count) of \(entry.chunkOffsets.count) chunks")
        }
        let indexByOffset = Dictionary(uniqueKeysWithValues: offsets.enumerated().map { ($0.element, $0.offset) })
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            throw ChangelogError("cannot write \(path)")
        }
        defer { try? handle.close() }
        // Chunks come in log order; one sent again out of order waits in memory for its turn.
        var waiting: [Int: [UInt8]] = [:]
        var next = 0
        let found = try await scan(from: first, values: true) { message in
            guard let index = indexByOffset[message.offset] else { return message.offset >= entry.offset }
            guard message.header("snapshot-id") == entry.manifest.id, message.header("snapshot-chunk") == "\(index + 1)/\(offsets.count)" else {
                throw ChangelogError("snapshot \(entry.manifest.id): \(topic)[\(partition)]@\(message.offset) is not its chunk \(index + 1)")
            }
            waiting[index] = message.value
            while let bytes = waiting.removeValue(forKey: next) {
                try handle.write(contentsOf: bytes)
                next += 1
            }
            return next == offsets.count
        }
        guard found, next == offsets.count else {
            throw ChangelogError("snapshot \(entry.manifest.id): only \(next) of \(offsets.count) chunks could be read")
        }
        try handle.synchronize()
    }

    /// Publishes the copy at `path` as `manifest` says (chunks of `chunkBytes`, `chunksPerSend`
    /// messages per producer call so the copy is never all in memory), the manifest last.
    /// Returns once Kafka has all of it; throws on the first failed delivery.
    public func publish(_ path: String, manifest: SnapshotManifest, producer: KafkaProducer, chunkBytes: Int,
                        chunksPerSend: Int = 16) async throws {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw ChangelogError("cannot read \(path)") }
        defer { try? handle.close() }
        var index = 0
        while index < manifest.chunks {
            try Task.checkCancellation()
            var messages: [OutgoingMessage] = []
            while messages.count < chunksPerSend && index < manifest.chunks {
                let bytes = [UInt8](try handle.read(upToCount: chunkBytes) ?? Data())
                index += 1
                messages.append(SnapshotWire.chunk(bytes, index: index, of: manifest.chunks, id: manifest.id, topic: topic, partition: partition))
            }
            for result in await producer.send(messages) { _ = try result.get() }
        }
        _ = try await producer.send(SnapshotWire.manifest(manifest, topic: topic))
    }

    /// Reads the partition from `start` until `body` says stop or the end of the log (the
    /// end-of-partition rule; no ListOffsets). Returns false when the topic is missing.
    private func scan(from start: Int64, values: Bool, _ body: (ConsumedRecord) throws -> Bool) async throws -> Bool {
        let reader = try KafkaPartitionReader(configuration: kafka.withDefaults(["fetch.wait.max.ms": "100"]), values: values, logger: logger)
        do {
            let counts = try await reader.topicPartitionCounts()
            guard let count = counts[topic], count > partition else {
                await reader.close()
                return false
            }
            try reader.assign([TopicPartition(topic, partition): start > 0 ? .offset(start) : .beginning])
            var progressAt = ContinuousClock.now
            reading: while !reader.isCaughtUp {
                try Task.checkCancellation()
                let poll = try await reader.poll(maxRecords: 500, maxWait: .milliseconds(500))
                if !poll.records.isEmpty || !poll.reachedEnd.isEmpty { progressAt = .now }
                guard ContinuousClock.now - progressAt < stallTimeout else {
                    throw ChangelogError("reading \(topic)[\(partition)] made no progress for \(stallTimeout): is the broker reachable?")
                }
                for message in poll.records where try body(message) { break reading }
            }
            await reader.close()
            return true
        } catch {
            await reader.close()
            throw error
        }
    }
}
