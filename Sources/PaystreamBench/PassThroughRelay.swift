import Foundation
import Logging
import PaystreamKafka
import PaystreamRuntime

/// One hop of the benchmark's pass-through relay: a consumer group member on `from` that sends
/// every record, bytes untouched, to the same partition of `to`, waits for the delivery reports
/// and then commits the offsets, as the workers do, with no decoding and no SQLite. Its Kafka
/// settings and batch sizes come from a daemon configuration file, so that it is measured with
/// the fleet's own settings. Runs until the process is stopped.
public struct PassThroughRelay: Sendable {
    public let from: String
    public let to: String
    public let kafka: KafkaConfiguration
    public let maxRecords: Int
    public let maxWait: Duration

    public init(from: String, to: String, kafka: KafkaConfiguration, maxRecords: Int, maxWait: Duration) {
        self.from = from
        self.to = to
        self.kafka = kafka
        self.maxRecords = maxRecords
        self.maxWait = maxWait
    }

    public func run(logger: Logger) async throws {
        let consumer = try KafkaConsumer(configuration: kafka, groupID: "paystream-bench.relay.\(from)", logger: logger)
        let producer = try KafkaProducer(configuration: kafka, logger: logger)
        try consumer.subscribe([from])
        var relayed = 0
        while !Task.isCancelled {
            let poll = try await consumer.poll(maxRecords: maxRecords, maxWait: maxWait)
            if !poll.records.isEmpty {
                let results = await producer.send(poll.records.map {
                    OutgoingMessage(topic: to, key: $0.key, value: $0.value, headers: $0.headers, partition: $0.partition)
                })
                for result in results { _ = try result.get() }
                var offsets: [TopicPartition: Int64] = [:]
                for record in poll.records { offsets[record.topicPartition] = max(offsets[record.topicPartition] ?? 0, record.offset + 1) }
                consumer.commitAsync(offsets)
                relayed += poll.records.count
            }
            switch poll.rebalance {
            case .assigned(let partitions)?:
                let committed = try await consumer.committedOffsets(partitions)
                try consumer.accept(assignment: Dictionary(uniqueKeysWithValues: partitions.map {
                    ($0, committed[$0].map(StartOffset.offset) ?? .beginning)
                }))
                logger.info("relay assigned", metadata: ["from": "\(from)", "partitions": "\(partitions.count)"])
            case .revoked?:
                try consumer.acknowledgeRevocation()
            case nil:
                break
            }
        }
        await producer.close()
        await consumer.close()
    }
}
