import Crdkafka
import Foundation
import Logging

/// What a `KafkaPartitionReader` poll brought: records in order (per partition), and the
/// partitions whose end the reader reached, with the end offset (the offset the next record
/// written there will get).
public struct PartitionReadPoll: Sendable {
    public var records: [ConsumedRecord] = []
    public var reachedEnd: [TopicPartition: Int64] = [:]
}

/// Reads every partition of some topics in full, without a consumer group: partitions are
/// assigned, never balanced, so every instance reads everything (reference data, tools).
///
/// **Caught up** means: every assigned partition has reported its end since the assignment. The
/// end comes from librdkafka's `enable.partition.eof` event, raised when a fetch returns no
/// more records and the fetch position equals the partition's high watermark *from that fetch
/// response*. It arrives on the same queue after the partition's records, so when it is seen
/// every record before the end has been returned by `poll`. An empty partition reports its end
/// (offset 0) after its first fetch. No ListOffsets request is made (Tansu answers it wrongly).
/// After catching up the reader keeps fetching: later records arrive in later polls, each burst
/// followed by another end event.
///
/// Offsets are never committed (the group id is random and unused; offsets belong to the caller).
// @unchecked: librdkafka handles and queues are thread-safe; Swift state is behind `state`.
public final class KafkaPartitionReader: @unchecked Sendable {
    private let client: RDKafkaClient
    private let consumerQueue: OpaquePointer
    private let logger: Logger
    private let state = Mutex(ReaderState())
    /// Whether records carry their values (false: headers, keys and offsets only).
    private let values: Bool

    private struct ReaderState {
        var assignment: Set<TopicPartition> = []
        /// Partitions whose end was reported since the assignment.
        var ended: Set<TopicPartition> = []
        /// The offset after the last record returned, per partition.
        var positions: [TopicPartition: Int64] = [:]
        var closed = false
    }

    /// `values`: false for a reader that needs the headers only (the values are not copied).
    public init(configuration: KafkaConfiguration, values: Bool = true, logger: Logger) throws {
        self.values = values
        let config = configuration.applicable(to: .consumer)
            .withDefaults(["socket.connection.setup.timeout.ms": "10000"])
            .forcing([
                "group.id": "paystream-partition-reader-\(UUID().uuidString)",
                "enable.auto.commit": "false",
                "enable.auto.offset.store": "false",
                // The caught-up rule needs the end-of-partition events (off for the group consumer).
                "enable.partition.eof": "true",
                // A stored position that no longer exists (retention moved the start): read from
                // the start rather than skip to the end and miss keys.
                "auto.offset.reset": "earliest",
            ])
        self.client = try RDKafkaClient(kind: .consumer, configuration: config,
                                        events: RD_KAFKA_EVENT_FETCH | RD_KAFKA_EVENT_ERROR, label: "partition-reader")
        // One queue to poll: route the main queue (errors) into the consumer queue.
        rd_kafka_poll_set_consumer(client.handle)
        self.consumerQueue = rd_kafka_queue_get_consumer(client.handle)
        self.logger = logger
    }

    /// Topic names and partition counts as the cluster reports them. Fails if no broker answers
    /// within `timeout`.
    public func topicPartitionCounts(timeout: Duration = .seconds(10)) async throws -> [String: Int32] {
        let ms = Int32(clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        return try await client.blocking { [client] in try client.metadata(timeoutMs: ms) }
    }

    /// Assigns every partition of `topics` (counts from one metadata request): a partition in
    /// `starts` from its position there, any other from the beginning. Throws, naming them, if
    /// some topics do not exist.
    public func assignAll(_ topics: [String], starts: [TopicPartition: StartOffset] = [:],
                          timeout: Duration = .seconds(10)) async throws {
        let counts = try await topicPartitionCounts(timeout: timeout)
        let missing = topics.filter { counts[$0] == nil }
        guard missing.isEmpty else {
            throw KafkaError(code: RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART.rawValue,
                             message: "topic(s) \(missing.joined(separator: ", ")) do not exist")
        }
        var assignment: [TopicPartition: StartOffset] = [:]
        for topic in topics {
            for partition in 0..<counts[topic]! {
                let tp = TopicPartition(topic, partition)
                assignment[tp] = starts[tp] ?? .beginning
            }
        }
        try assign(assignment)
    }

    /// Starts reading exactly these partitions at these positions, replacing the assignment and
    /// forgetting which partitions had reached their end.
    public func assign(_ starts: [TopicPartition: StartOffset]) throws {
        try client.assign(starts)
        state.withLock {
            $0.assignment = Set(starts.keys)
            $0.ended = []
            $0.positions = starts.compactMapValues { if case .offset(let o) = $0 { o } else { nil } }
        }
    }

    /// The assigned partitions.
    public var assignment: Set<TopicPartition> { state.withLock { $0.assignment } }

    /// True once every assigned partition has reported its end since the assignment.
    public var isCaughtUp: Bool { state.withLock { $0.ended.isSuperset(of: $0.assignment) } }

    /// Assigned partitions that have not reported their end yet.
    public var partitionsBehind: [TopicPartition] {
        state.withLock { $0.assignment.subtracting($0.ended).sorted() }
    }

    /// The offset after the last record returned, per partition (a partition read from the
    /// beginning that returned nothing yet has none).
    public var positions: [TopicPartition: Int64] { state.withLock { $0.positions } }

    /// Waits up to `maxWait` for a first record or end event, then takes whatever else is ready,
    /// up to `maxRecords` records. `maxWait` zero never blocks, and runs on the caller's thread
    /// (a worker asks before every batch; a hop to the client's queue and back cost two thread
    /// switches each time).
    public func poll(maxRecords: Int, maxWait: Duration) async throws -> PartitionReadPoll {
        let waitMs = Int(maxWait.components.seconds * 1000 + maxWait.components.attoseconds / 1_000_000_000_000_000)
        if waitMs <= 0 {
            // Not while (or after) `close` destroys the queue; a reader is polled and closed by one task.
            guard !state.withLock({ $0.closed }) else { return PartitionReadPoll() }
            return try pollBlocking(maxRecords: maxRecords, waitMs: 0)
        }
        return try await client.blocking { [self] in try pollBlocking(maxRecords: maxRecords, waitMs: waitMs) }
    }

    private func pollBlocking(maxRecords: Int, waitMs: Int) throws -> PartitionReadPoll {
        var result = PartitionReadPoll()
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(max(waitMs, 0)) * 1_000_000
        while result.records.count < maxRecords {
            let now = DispatchTime.now().uptimeNanoseconds
            let nothingYet = result.records.isEmpty && result.reachedEnd.isEmpty
            let timeout: Int32 = nothingYet ? Int32(now >= deadline ? 0 : (deadline - now) / 1_000_000) : 0
            guard let event = rd_kafka_queue_poll(consumerQueue, timeout) else {
                if nothingYet && DispatchTime.now().uptimeNanoseconds < deadline { continue }
                break
            }
            defer { rd_kafka_event_destroy(event) }
            switch rd_kafka_event_type(event) {
            case RD_KAFKA_EVENT_FETCH:
                while let message = rd_kafka_event_message_next(event) {
                    if message.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR {
                        result.records.append(makeRecord(message, values: values))
                    } else {
                        handleError(message.pointee.err, partition: partitionOf(message), offset: message.pointee.offset,
                                    text: String(cString: rd_kafka_err2str(message.pointee.err)), into: &result)
                    }
                }
            case RD_KAFKA_EVENT_ERROR:
                let err = rd_kafka_event_error(event)
                if rd_kafka_event_error_is_fatal(event) != 0 {
                    throw KafkaError(code: err.rawValue, message: String(cString: rd_kafka_event_error_string(event)), isFatal: true)
                }
                var partition: TopicPartition?
                var offset: Int64 = -1
                if let tp = rd_kafka_event_topic_partition(event) {
                    partition = TopicPartition(String(cString: tp.pointee.topic), tp.pointee.partition)
                    offset = tp.pointee.offset
                    rd_kafka_topic_partition_destroy(tp)
                }
                handleError(err, partition: partition, offset: offset,
                            text: String(cString: rd_kafka_event_error_string(event)), into: &result)
            default:
                break
            }
        }
        state.withLock { state in
            for record in result.records {
                state.positions[record.topicPartition] = record.offset + 1
            }
            for (tp, end) in result.reachedEnd where state.assignment.contains(tp) {
                state.ended.insert(tp)
                // An empty partition read from the beginning has a position only now.
                if state.positions[tp] == nil || state.positions[tp]! < end { state.positions[tp] = end }
            }
        }
        return result
    }

    private func partitionOf(_ message: UnsafePointer<rd_kafka_message_t>) -> TopicPartition? {
        guard let rkt = message.pointee.rkt else { return nil }
        return TopicPartition(String(cString: rd_kafka_topic_name(rkt)), message.pointee.partition)
    }

    private func handleError(_ err: rd_kafka_resp_err_t, partition: TopicPartition?, offset: Int64, text: String,
                             into result: inout PartitionReadPoll) {
        if err == RD_KAFKA_RESP_ERR__PARTITION_EOF, let partition {
            result.reachedEnd[partition] = offset
            return
        }
        // Transport errors and the like: librdkafka retries by itself; the caller's time limit
        // decides when to give up.
        logger.debug("partition reader error", metadata: [
            "error": "\(text)", "kafka.topic": "\(partition?.topic ?? "")",
            "kafka.partition": "\(partition.map { "\($0.partition)" } ?? "")",
        ])
    }

    /// Stops fetching and destroys the handle.
    public func close() async {
        let alreadyClosed = state.withLock { state -> Bool in
            defer { state.closed = true }
            return state.closed
        }
        guard !alreadyClosed else { return }
        _ = try? await client.blocking { [self] in
            // Never joined a group: there is no revocation to answer, only the assignment to drop.
            rd_kafka_assign(client.handle, nil)
            if let error = rd_kafka_consumer_close_queue(client.handle, consumerQueue) {
                rd_kafka_error_destroy(error)
            }
            let deadline = DispatchTime.now().uptimeNanoseconds + 5_000_000_000
            while rd_kafka_consumer_closed(client.handle) == 0 && DispatchTime.now().uptimeNanoseconds < deadline {
                guard let event = rd_kafka_queue_poll(consumerQueue, 100) else { continue }
                rd_kafka_event_destroy(event)
            }
            rd_kafka_queue_destroy(consumerQueue)
            client.destroy()
        }
    }
}
