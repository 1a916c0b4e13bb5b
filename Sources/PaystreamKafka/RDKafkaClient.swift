import Crdkafka
import Dispatch
import Foundation

/// Owns one `rd_kafka_t` handle. Internal: the public types speak Swift, this one speaks C.
///
/// Blocking librdkafka calls (metadata, flush, queue polls with a timeout) run on `queue`, a
/// private serial dispatch queue, so they never occupy a thread of Swift's cooperative pool.
final class RDKafkaClient: @unchecked Sendable {
    let handle: OpaquePointer
    let queue: DispatchQueue
    private let destroyed = Mutex(false)

    enum Kind { case producer, consumer }

    /// Creates the handle. `events` is the mask of events delivered to the main queue
    /// (`RD_KAFKA_EVENT_*`), so that we poll for them instead of handing callbacks to C.
    init(kind: Kind, configuration: KafkaConfiguration, events: Int32, label: String) throws {
        let conf = try RDKafkaClient.makeConf(configuration)
        var errstr = [CChar](repeating: 0, count: 512)
        rd_kafka_conf_set_events(conf, events)
        let type = kind == .producer ? RD_KAFKA_PRODUCER : RD_KAFKA_CONSUMER
        // On success rd_kafka_new takes ownership of conf; on failure it stays ours.
        guard let handle = rd_kafka_new(type, conf, &errstr, errstr.count) else {
            rd_kafka_conf_destroy(conf)
            throw KafkaError.configuration("cannot create Kafka client: \(String(errorBuffer: errstr))")
        }
        self.handle = handle
        self.queue = DispatchQueue(label: "paystream.kafka.\(label)")
    }

    /// A librdkafka configuration object with every property set; the caller owns it.
    static func makeConf(_ configuration: KafkaConfiguration) throws -> OpaquePointer {
        guard let conf = rd_kafka_conf_new() else { throw KafkaError.configuration("rd_kafka_conf_new failed") }
        var errstr = [CChar](repeating: 0, count: 512)
        for (key, value) in configuration.properties.sorted(by: { $0.key < $1.key }) {
            if rd_kafka_conf_set(conf, key, value, &errstr, errstr.count) != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                let shown = KafkaConfiguration.secretKeys.contains(key) ? "<redacted>" : value
                throw KafkaError.configuration("Kafka property \(key)=\(shown): \(String(errorBuffer: errstr))")
            }
        }
        return conf
    }

    /// Runs a blocking call on this client's queue and returns its result to the caller.
    func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result { try body() })
            }
        }
    }

    /// Topic names and partition counts as the cluster reports them (one metadata request).
    func metadata(timeoutMs: Int32) throws -> [String: Int32] {
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let err = rd_kafka_metadata(handle, 1, nil, &metadata, timeoutMs)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let md = metadata else {
            throw KafkaError(rdError: err, context: "metadata request")
        }
        defer { rd_kafka_metadata_destroy(md) }
        var topics: [String: Int32] = [:]
        for i in 0..<Int(md.pointee.topic_cnt) {
            let topic = md.pointee.topics[i]
            guard topic.err == RD_KAFKA_RESP_ERR_NO_ERROR else { continue }
            topics[String(cString: topic.topic)] = topic.partition_cnt
        }
        return topics
    }

    /// The client's fatal error, if one was raised (idempotent producer fencing and the like).
    /// Assigns exactly these partitions at these positions (`rd_kafka_assign`), replacing the
    /// current assignment.
    func assign(_ starts: [TopicPartition: StartOffset]) throws {
        let list = makePartitionList(starts.sorted { $0.key < $1.key }.map { tp, start in
            switch start {
            case .offset(let offset): (tp, offset)
            case .beginning: (tp, Int64(RD_KAFKA_OFFSET_BEGINNING))
            }
        })
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let err = rd_kafka_assign(handle, list)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(rdError: err, context: "assign") }
    }

    func fatalError() -> KafkaError? {
        var errstr = [CChar](repeating: 0, count: 512)
        let err = rd_kafka_fatal_error(handle, &errstr, errstr.count)
        guard err != RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
        return KafkaError(code: err.rawValue, message: String(errorBuffer: errstr), isFatal: true)
    }

    /// Destroys the handle once; later calls do nothing.
    func destroy() {
        let first = destroyed.withLock { done -> Bool in
            defer { done = true }
            return !done
        }
        if first { rd_kafka_destroy(handle) }
    }
}

/// Reads the headers of a message into Swift values.
func readHeaders(_ message: UnsafePointer<rd_kafka_message_t>) -> [KafkaHeader] {
    var headers: OpaquePointer?
    guard rd_kafka_message_headers(message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR, let headers else { return [] }
    var result: [KafkaHeader] = []
    var index = 0
    while true {
        var name: UnsafePointer<CChar>?
        var value: UnsafeRawPointer?
        var size = 0
        guard rd_kafka_header_get_all(headers, index, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR,
              let name else { break }
        let bytes = value.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) } ?? []
        result.append(KafkaHeader(key: String(cString: name), value: bytes))
        index += 1
    }
    return result
}

/// Copies a message that librdkafka owns into a `ConsumedRecord`.
/// `values`: false leaves each record's value empty (a reader that needs the headers only).
func makeRecord(_ message: UnsafePointer<rd_kafka_message_t>, values: Bool = true) -> ConsumedRecord {
    let m = message.pointee
    let topic = m.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
    let key = m.key.map { Array(UnsafeRawBufferPointer(start: $0, count: m.key_len)) }
    let value = values ? m.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: m.len)) } ?? [] : []
    var tsType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
    let ts = rd_kafka_message_timestamp(message, &tsType)
    return ConsumedRecord(topic: topic, partition: m.partition, offset: m.offset, key: key, value: value,
                          headers: readHeaders(message),
                          timestampMs: tsType == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? nil : ts)
}

/// Builds a C partition list; the caller destroys it.
func makePartitionList(_ starts: [(TopicPartition, Int64)]) -> UnsafeMutablePointer<rd_kafka_topic_partition_list_t> {
    let list = rd_kafka_topic_partition_list_new(Int32(max(starts.count, 1)))!
    for (tp, offset) in starts {
        let element = rd_kafka_topic_partition_list_add(list, tp.topic, tp.partition)!
        element.pointee.offset = offset
    }
    return list
}

func readPartitionList(_ list: UnsafePointer<rd_kafka_topic_partition_list_t>?) -> [TopicPartition] {
    guard let list else { return [] }
    return (0..<Int(list.pointee.cnt)).map { i in
        let element = list.pointee.elems[i]
        return TopicPartition(String(cString: element.topic), element.partition)
    }
}

extension String {
    /// Reads a NUL-terminated error buffer that librdkafka filled in.
    init(errorBuffer: [CChar]) {
        let bytes = errorBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        self.init(decoding: bytes, as: UTF8.self)
    }
}
