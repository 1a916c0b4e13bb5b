import Crdkafka
import Foundation
import Logging

/// An idempotent producer (`enable.idempotence=true`, `acks=all`).
///
/// Delivery reports come back as events on librdkafka's main queue, which a dedicated thread
/// polls; each produced message carries an integer token as its opaque, so no Swift closure or
/// object pointer is ever handed to C. `send` returns when every message of the call has a
/// delivery report (or failed to enqueue). Call `close()` when done: it flushes, stops the poll
/// thread and destroys the handle.
// @unchecked: librdkafka handles and queues are thread-safe; Swift state is behind `state`.
public final class KafkaProducer: @unchecked Sendable {
    private let client: RDKafkaClient
    private let mainQueue: OpaquePointer
    private let state = Mutex(ProducerState())
    private let pollerStopped = DispatchSemaphore(value: 0)
    private let logger: Logger

    private struct Batch {
        var results: [Result<DeliveryReport, KafkaError>?]
        var remaining: Int
        let completion: @Sendable ([Result<DeliveryReport, KafkaError>]) -> Void
    }

    private struct ProducerState {
        var nextToken: UInt = 1
        var nextBatch: UInt = 1
        /// token → (batch, index within the batch)
        var inFlight: [UInt: (batch: UInt, index: Int)] = [:]
        var batches: [UInt: Batch] = [:]
        var running = true
        var closed = false
    }

    /// - Parameter partitioner: librdkafka's `partitioner` for keyed messages without a
    ///   partition. Paystream publishes with `murmur2_random` (the Java client's rule, which its
    ///   stages treat as canonical); tests play other upstream clients with other values.
    public init(configuration: KafkaConfiguration, logger: Logger, partitioner: String = "murmur2_random") throws {
        let config = configuration.applicable(to: .producer)
            .withDefaults([
                "linger.ms": "2",
                "message.timeout.ms": "30000",
                "socket.connection.setup.timeout.ms": "10000",
            ])
            .forcing([
                "enable.idempotence": "true",
                "acks": "all",
                // Java-compatible partitioning: a key's records land on its canonical partition.
                "partitioner": partitioner,
            ])
        self.client = try RDKafkaClient(kind: .producer, configuration: config,
                                        events: RD_KAFKA_EVENT_DR | RD_KAFKA_EVENT_ERROR, label: "producer")
        self.mainQueue = rd_kafka_queue_get_main(client.handle)
        self.logger = logger
        let thread = Thread { [self] in pollLoop() }
        thread.name = "paystream-producer-poll"
        thread.start()
    }

    /// Produces `messages` in order and waits for their delivery reports. The result at index i
    /// belongs to `messages[i]`. Per-key order is kept by the idempotent producer.
    public func send(_ messages: [OutgoingMessage]) async -> [Result<DeliveryReport, KafkaError>] {
        guard !messages.isEmpty else { return [] }
        return await withCheckedContinuation { continuation in
            produce(messages) { continuation.resume(returning: $0) }
        }
    }

    /// Hands `messages` to the producer at once, after everything handed over by earlier calls
    /// (so a caller that hands over round after round keeps their order without waiting for
    /// the broker), and calls `completion` with their delivery reports, in the same order, once
    /// every one is in. `completion` runs on the producer's poll thread: keep it short.
    public func produce(_ messages: [OutgoingMessage], completion: @escaping @Sendable ([Result<DeliveryReport, KafkaError>]) -> Void) {
        guard !messages.isEmpty else { return completion([]) }
        let tokens: [UInt]? = state.withLock { state in
            guard !state.closed else { return nil }
            let batchID = state.nextBatch
            state.nextBatch += 1
            state.batches[batchID] = Batch(results: Array(repeating: nil, count: messages.count),
                                           remaining: messages.count, completion: completion)
            return messages.indices.map { index in
                let token = state.nextToken
                state.nextToken += 1
                state.inFlight[token] = (batchID, index)
                return token
            }
        }
        guard let tokens else { return completion(messages.map { _ in .failure(KafkaError.closed()) }) }
        // Enqueueing can block briefly under back-pressure (queue full): do it off the caller's
        // thread, on the client's serial queue (calls are enqueued in the order they were made).
        client.queue.async { [self] in
            for (message, token) in zip(messages, tokens) {
                if let error = enqueue(message, token: token) { complete(token: token, with: .failure(error)) }
            }
        }
    }

    /// Produces one message and waits for its delivery report.
    public func send(_ message: OutgoingMessage) async throws -> DeliveryReport {
        try await send([message])[0].get()
    }

    /// Waits until every produced message has a delivery report or `timeout` passes, then stops
    /// the poll thread and destroys the handle. Messages still undelivered fail with an error.
    public func close(timeout: Duration = .seconds(10)) async {
        let alreadyClosed = state.withLock { state -> Bool in
            defer { state.closed = true }
            return state.closed
        }
        guard !alreadyClosed else { return }
        let ms = Int32(clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        _ = try? await client.blocking { [client] in
            let err = rd_kafka_flush(client.handle, ms)
            return err == RD_KAFKA_RESP_ERR_NO_ERROR
        }
        // Whatever is still pending after the flush timeout will never be reported to us.
        let orphaned = state.withLock { state -> [UInt] in Array(state.inFlight.keys) }
        if !orphaned.isEmpty {
            logger.warning("producer closed with undelivered messages", metadata: ["count": "\(orphaned.count)"])
        }
        for token in orphaned { complete(token: token, with: .failure(KafkaError.timedOut("not delivered before close"))) }
        // The poll thread holds the producer until it stops; close() is what releases it.
        state.withLock { $0.running = false }
        _ = try? await client.blocking { [self] in
            pollerStopped.wait()
            rd_kafka_queue_destroy(mainQueue)
            client.destroy()
        }
    }

    /// The fatal error the producer raised, if any. A fatal producer must be recreated.
    public var fatalError: KafkaError? { client.fatalError() }

    // MARK: - internals

    private func enqueue(_ message: OutgoingMessage, token: UInt) -> KafkaError? {
        var headers: OpaquePointer? = nil
        if !message.headers.isEmpty {
            headers = rd_kafka_headers_new(message.headers.count)
            for header in message.headers {
                header.value.withUnsafeBytes { bytes in
                    _ = rd_kafka_header_add(headers, header.key, -1, bytes.baseAddress, bytes.count)
                }
            }
        }
        let opaque = UnsafeMutableRawPointer(bitPattern: token)
        var attempts = 0
        let partition = message.partition ?? RD_KAFKA_PARTITION_UA
        while true {
            let err: rd_kafka_resp_err_t = message.value.withUnsafeBytes { bytes in
                // A NULL pointer, not an empty buffer, is what makes the value null (a tombstone).
                let value = message.isTombstone ? nil : bytes.baseAddress
                let valueCount = message.isTombstone ? 0 : bytes.count
                if let key = message.key {
                    return key.withUnsafeBytes { keyBytes in
                        paystream_produce(client.handle, message.topic, partition,
                                          keyBytes.baseAddress, keyBytes.count, value, valueCount,
                                          headers, opaque)
                    }
                }
                return paystream_produce(client.handle, message.topic, partition, nil, 0,
                                         value, valueCount, headers, opaque)
            }
            if err == RD_KAFKA_RESP_ERR_NO_ERROR { return nil }  // librdkafka owns the headers now
            if err == RD_KAFKA_RESP_ERR__QUEUE_FULL && attempts < 30_000 {
                attempts += 1
                usleep(1000)
                continue
            }
            if let headers { rd_kafka_headers_destroy(headers) }
            return KafkaError(rdError: err, context: "produce to \(message.topic)")
        }
    }

    private func complete(token: UInt, with result: Result<DeliveryReport, KafkaError>) {
        let finished: Batch? = state.withLock { state in
            guard let (batchID, index) = state.inFlight.removeValue(forKey: token) else { return nil }
            // In place: copying the batch out and back would copy its results for every report.
            guard state.batches[batchID] != nil else { return nil }
            state.batches[batchID]!.results[index] = result
            state.batches[batchID]!.remaining -= 1
            guard state.batches[batchID]!.remaining == 0 else { return nil }
            return state.batches.removeValue(forKey: batchID)
        }
        if let finished {
            finished.completion(finished.results.map { $0! })
        }
    }

    private func pollLoop() {
        defer { pollerStopped.signal() }
        // Reports come in runs for the same topic: its name is made into a String once a run.
        var lastTopic = ""
        func topicName(_ name: UnsafePointer<CChar>) -> String {
            if lastTopic.withCString({ strcmp($0, name) }) != 0 { lastTopic = String(cString: name) }
            return lastTopic
        }
        while state.withLock({ $0.running }) {
            guard let event = rd_kafka_queue_poll(mainQueue, 100) else { continue }
            defer { rd_kafka_event_destroy(event) }
            switch rd_kafka_event_type(event) {
            case RD_KAFKA_EVENT_DR:
                while let message = rd_kafka_event_message_next(event) {
                    let m = message.pointee
                    let token = UInt(bitPattern: m._private)
                    if m.err == RD_KAFKA_RESP_ERR_NO_ERROR {
                        let topic = m.rkt.map { topicName(rd_kafka_topic_name($0)) } ?? ""
                        complete(token: token, with: .success(DeliveryReport(topic: topic, partition: m.partition, offset: m.offset)))
                    } else {
                        complete(token: token, with: .failure(KafkaError(rdError: m.err, context: "delivery")))
                    }
                }
            case RD_KAFKA_EVENT_ERROR:
                let err = rd_kafka_event_error(event)
                let text = String(cString: rd_kafka_event_error_string(event))
                if rd_kafka_event_error_is_fatal(event) != 0 {
                    logger.critical("fatal producer error", metadata: ["error": "\(text)"])
                } else {
                    logger.debug("producer error", metadata: ["error": "\(text)", "code": "\(err.rawValue)"])
                }
            default:
                break
            }
        }
    }
}
