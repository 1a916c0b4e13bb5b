import Foundation
import Logging

/// Reads whole topics from the beginning, without a consumer group (tools and tests).
public final class TopicReader: Sendable {
    private let consumer: KafkaConsumer

    public init(bootstrapServers: String, topics: [String], logger: Logger = Logger(label: "paystream.reader")) async throws {
        consumer = try KafkaConsumer(
            configuration: KafkaConfiguration(bootstrapServers: bootstrapServers, properties: ["fetch.wait.max.ms": "10"]),
            groupID: nil, logger: logger)
        let counts = try await consumer.topicPartitionCounts()
        var starts: [TopicPartition: StartOffset] = [:]
        for topic in topics {
            guard let n = counts[topic] else { throw KafkaError(code: 3, message: "topic \(topic) does not exist") }
            for p in 0..<n { starts[TopicPartition(topic, p)] = .beginning }
        }
        try consumer.accept(assignment: starts)
    }

    /// Reads until `done` holds for everything read so far, or `timeout` passes (then throws).
    public func read(timeout: Duration = .seconds(30),
                     until done: ([ConsumedRecord]) -> Bool) async throws -> [ConsumedRecord] {
        var records: [ConsumedRecord] = []
        let deadline = ContinuousClock.now + timeout
        while !done(records) {
            guard ContinuousClock.now < deadline else {
                throw KafkaError.timedOut("timed out after reading \(records.count) records")
            }
            records += try await consumer.poll(maxRecords: 1000, maxWait: .milliseconds(50)).records
        }
        return records
    }

    /// Reads for `duration` and returns everything (to check that nothing more arrives).
    public func readFor(_ duration: Duration) async throws -> [ConsumedRecord] {
        var records: [ConsumedRecord] = []
        let deadline = ContinuousClock.now + duration
        while ContinuousClock.now < deadline {
            records += try await consumer.poll(maxRecords: 1000, maxWait: .milliseconds(50)).records
        }
        return records
    }

    /// One poll: waits up to `maxWait` for a first record and returns what is ready (observers
    /// that time each record's arrival).
    public func next(maxWait: Duration = .milliseconds(50)) async throws -> [ConsumedRecord] {
        try await consumer.poll(maxRecords: 5000, maxWait: maxWait).records
    }

    public func close() async { await consumer.close() }
}
