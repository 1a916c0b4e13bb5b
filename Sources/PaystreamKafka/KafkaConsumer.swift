import Crdkafka
import Foundation
import Logging

/// What a poll brought: records in order, then at most one rebalance that the caller must answer
/// (`accept(assignment:)` or `acknowledgeRevocation()`) before polling again. Records read before
/// the rebalance belong to the batch in hand, which the caller finishes first.
public struct ConsumerPoll: Sendable {
    public var records: [ConsumedRecord] = []
    public var rebalance: Rebalance?
}

public enum Rebalance: Sendable, Equatable {
    case assigned([TopicPartition])
    /// `lost`: the group took the partitions away without a regular rebalance (the session
    /// timed out, or the poll interval was exceeded); another member may be working on them.
    case revoked([TopicPartition], lost: Bool = false)
}

/// A consumer with offsets owned by the application.
///
/// `enable.auto.commit` and `enable.auto.offset.store` are off; the group only balances
/// partitions (range assignment, so co-partitioned topics land together). On assignment the
/// caller says where each partition starts (from its own store); Kafka's committed offsets are
/// never read. Rebalances arrive as events on the consumer queue, not as C callbacks.
// @unchecked: librdkafka handles and queues are thread-safe; Swift state is behind `state`.
public final class KafkaConsumer: @unchecked Sendable {
    private let client: RDKafkaClient
    private let consumerQueue: OpaquePointer
    private let logger: Logger
    private let state = Mutex(ConsumerState())

    private struct ConsumerState {
        var assignment: Set<TopicPartition> = []
        var pendingRebalance: Rebalance?
        var closed = false
        /// `wake()` was called: the poll in progress (or the next) returns at once.
        var woken = false
    }

    /// - Parameter groupID: the consumer group; nil for a consumer that only uses `assign`.
    public init(configuration: KafkaConfiguration, groupID: String?, logger: Logger) throws {
        var forced = [
            "enable.auto.commit": "false",
            "enable.auto.offset.store": "false",
            "enable.partition.eof": "false",
        ]
        forced["group.id"] = groupID ?? "paystream-reader-\(UUID().uuidString)"
        let config = configuration.applicable(to: .consumer)
            .withDefaults([
                "partition.assignment.strategy": "range",
                "auto.offset.reset": "earliest",
                "socket.connection.setup.timeout.ms": "10000",
            ])
            .forcing(forced)
        self.client = try RDKafkaClient(
            kind: .consumer, configuration: config,
            events: RD_KAFKA_EVENT_FETCH | RD_KAFKA_EVENT_REBALANCE | RD_KAFKA_EVENT_ERROR | RD_KAFKA_EVENT_OFFSET_COMMIT,
            label: "consumer")
        // Route the main queue (errors, rebalances) into the consumer queue: one queue to poll.
        rd_kafka_poll_set_consumer(client.handle)
        self.consumerQueue = rd_kafka_queue_get_consumer(client.handle)
        self.logger = logger
    }

    /// Joins the group and subscribes to `topics`; assignments come back from `poll`.
    public func subscribe(_ topics: [String]) throws {
        let list = rd_kafka_topic_partition_list_new(Int32(topics.count))!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for topic in topics { rd_kafka_topic_partition_list_add(list, topic, RD_KAFKA_PARTITION_UA) }
        let err = rd_kafka_subscribe(client.handle, list)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(rdError: err, context: "subscribe \(topics)") }
    }

    /// Starts reading the given partitions at the given positions, replacing the assignment.
    /// Answers an `.assigned` rebalance; also usable without a group (manual assignment).
    public func accept(assignment starts: [TopicPartition: StartOffset]) throws {
        try client.assign(starts)
        state.withLock {
            $0.assignment = Set(starts.keys)
            $0.pendingRebalance = nil
        }
    }

    /// Answers a `.revoked` rebalance once the batch in hand is finished and stored.
    public func acknowledgeRevocation() throws {
        let err = rd_kafka_assign(client.handle, nil)
        state.withLock {
            $0.assignment = []
            $0.pendingRebalance = nil
        }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(rdError: err, context: "unassign") }
    }

    /// The partitions currently assigned.
    public var assignment: Set<TopicPartition> { state.withLock { $0.assignment } }

    /// Makes the poll in progress return now (with what it has, maybe nothing), or the next one
    /// if none is in progress. Any thread may call it: the worker's publisher does when a
    /// publish round's delivery reports are all in, so that the loop settles it at once.
    public func wake() {
        // Under the lock: `close` marks the consumer closed under it before destroying the queue.
        state.withLock { state in
            guard !state.closed else { return }
            state.woken = true
            rd_kafka_queue_yield(consumerQueue)
        }
    }

    /// Waits up to `maxWait` for a first record, then takes whatever else is ready, up to
    /// `maxRecords`. Returns early with a rebalance when one arrives, or when `wake()` is called.
    public func poll(maxRecords: Int, maxWait: Duration) async throws -> ConsumerPoll {
        let waitMs = Int(maxWait.components.seconds * 1000 + maxWait.components.attoseconds / 1_000_000_000_000_000)
        return try await client.blocking { [self] in try pollBlocking(maxRecords: maxRecords, waitMs: waitMs) }
    }

    private func pollBlocking(maxRecords: Int, waitMs: Int) throws -> ConsumerPoll {
        if let pending = state.withLock({ $0.pendingRebalance }) {
            return ConsumerPoll(records: [], rebalance: pending)  // not answered yet: ask again
        }
        var result = ConsumerPoll()
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(waitMs) * 1_000_000
        let takeWake = { [state] in state.withLock { state in defer { state.woken = false }; return state.woken } }
        while result.records.count < maxRecords {
            if result.records.isEmpty && takeWake() { break }
            let now = DispatchTime.now().uptimeNanoseconds
            // Wait only for the first record; after that take what is ready.
            // Rounded up: a wait of under a millisecond must not become a spin of zero-time polls.
            let timeout: Int32 = result.records.isEmpty ? Int32(now >= deadline ? 0 : (deadline - now + 999_999) / 1_000_000) : 0
            guard let event = rd_kafka_queue_poll(consumerQueue, timeout) else {
                if takeWake() { break }
                if result.records.isEmpty && DispatchTime.now().uptimeNanoseconds < deadline { continue }
                break
            }
            defer { rd_kafka_event_destroy(event) }
            switch rd_kafka_event_type(event) {
            case RD_KAFKA_EVENT_FETCH:
                while let message = rd_kafka_event_message_next(event) {
                    let err = message.pointee.err
                    if err == RD_KAFKA_RESP_ERR_NO_ERROR {
                        result.records.append(makeRecord(message))
                    } else if err != RD_KAFKA_RESP_ERR__PARTITION_EOF {
                        logger.warning("consume error", metadata: [
                            "error": "\(String(cString: rd_kafka_err2str(err)))",
                            "kafka.partition": "\(message.pointee.partition)",
                        ])
                    }
                }
            case RD_KAFKA_EVENT_REBALANCE:
                let partitions = readPartitionList(rd_kafka_event_topic_partition_list(event))
                let rebalance: Rebalance = rd_kafka_event_error(event) == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS
                    ? .assigned(partitions) : .revoked(partitions, lost: rd_kafka_assignment_lost(client.handle) != 0)
                state.withLock { $0.pendingRebalance = rebalance }
                result.rebalance = rebalance
                return result
            case RD_KAFKA_EVENT_ERROR:
                let text = String(cString: rd_kafka_event_error_string(event))
                if rd_kafka_event_error_is_fatal(event) != 0 {
                    throw KafkaError(code: rd_kafka_event_error(event).rawValue, message: text, isFatal: true)
                }
                if rd_kafka_event_error(event) == RD_KAFKA_RESP_ERR__MAX_POLL_EXCEEDED {
                    logger.warning("left the group: the worker did not poll within max.poll.interval.ms", metadata: ["error": "\(text)"])
                } else {
                    logger.debug("consumer error", metadata: ["error": "\(text)"])
                }
            default:
                break
            }
        }
        return result
    }

    /// Commits offsets to the group without waiting. Informational only (for lag tooling):
    /// Paystream resumes from the offsets in its own store.
    public func commitAsync(_ offsets: [TopicPartition: Int64]) {
        guard !offsets.isEmpty else { return }
        let list = makePartitionList(offsets.map { ($0.key, $0.value) })
        defer { rd_kafka_topic_partition_list_destroy(list) }
        _ = rd_kafka_commit(client.handle, list, 1)
    }

    /// Commits offsets to the group and waits (used by tools and tests).
    public func commit(_ offsets: [TopicPartition: Int64]) async throws {
        let pairs = offsets.map { ($0.key, $0.value) }
        try await client.blocking { [client] in
            let list = makePartitionList(pairs)
            defer { rd_kafka_topic_partition_list_destroy(list) }
            let err = rd_kafka_commit(client.handle, list, 0)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(rdError: err, context: "commit") }
        }
    }

    /// The offsets the group has committed for these partitions; a partition without one is
    /// left out.
    public func committedOffsets(_ partitions: [TopicPartition], timeout: Duration = .seconds(10)) async throws -> [TopicPartition: Int64] {
        let ms = Int32(timeout.components.seconds * 1000)
        return try await client.blocking { [client] in
            let list = makePartitionList(partitions.map { ($0, Int64(RD_KAFKA_OFFSET_INVALID)) })
            defer { rd_kafka_topic_partition_list_destroy(list) }
            let err = rd_kafka_committed(client.handle, list, ms)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(rdError: err, context: "committed offsets") }
            var result: [TopicPartition: Int64] = [:]
            for i in 0..<Int(list.pointee.cnt) {
                let element = list.pointee.elems[i]
                guard element.err == RD_KAFKA_RESP_ERR_NO_ERROR, element.offset >= 0 else { continue }
                result[TopicPartition(String(cString: element.topic), element.partition)] = element.offset
            }
            return result
        }
    }

    /// The high watermark (the offset after the last record) of each partition as the last
    /// fetch responses reported it, from librdkafka's cache, without asking the broker; a
    /// partition not fetched yet is left out.
    public func cachedHighWatermarks(_ partitions: [TopicPartition]) -> [TopicPartition: Int64] {
        var result: [TopicPartition: Int64] = [:]
        for tp in partitions {
            var low: Int64 = -1, high: Int64 = -1
            let err = rd_kafka_get_watermark_offsets(client.handle, tp.topic, tp.partition, &low, &high)
            if err == RD_KAFKA_RESP_ERR_NO_ERROR, high >= 0 { result[tp] = high }
        }
        return result
    }

    /// The member id the group coordinator gave this consumer ("" before it joined).
    public var memberID: String {
        guard let id = rd_kafka_memberid(client.handle) else { return "" }
        defer { rd_kafka_mem_free(client.handle, id) }
        return String(decoding: UnsafeRawBufferPointer(start: id, count: strlen(id)), as: UTF8.self)
    }

    /// Partition counts of every topic the cluster knows.
    public func topicPartitionCounts(timeout: Duration = .seconds(10)) async throws -> [String: Int32] {
        let ms = Int32(timeout.components.seconds * 1000)
        return try await client.blocking { [client] in try client.metadata(timeoutMs: ms) }
    }

    /// Leaves the group (answering the final revocation itself) and destroys the handle.
    public func close() async {
        let alreadyClosed = state.withLock { state -> Bool in
            defer { state.closed = true }
            return state.closed
        }
        guard !alreadyClosed else { return }
        _ = try? await client.blocking { [self] in
            if let error = rd_kafka_consumer_close_queue(client.handle, consumerQueue) {
                logger.warning("consumer close", metadata: ["error": "\(String(cString: rd_kafka_error_string(error)))"])
                rd_kafka_error_destroy(error)
            }
            let deadline = DispatchTime.now().uptimeNanoseconds + 10_000_000_000
            while rd_kafka_consumer_closed(client.handle) == 0 && DispatchTime.now().uptimeNanoseconds < deadline {
                guard let event = rd_kafka_queue_poll(consumerQueue, 100) else { continue }
                if rd_kafka_event_type(event) == RD_KAFKA_EVENT_REBALANCE {
                    rd_kafka_assign(client.handle, nil)
                }
                rd_kafka_event_destroy(event)
            }
            rd_kafka_queue_destroy(consumerQueue)
            client.destroy()
        }
    }
}
