import Foundation

/// A message header. Values are raw bytes; Paystream writes UTF-8.
public struct KafkaHeader: Hashable, Sendable, Codable {
    public let key: String
    public let value: [UInt8]

    public init(key: String, value: [UInt8]) {
        self.key = key
        self.value = value
    }

    public init(key: String, string: String) {
        self.init(key: key, value: Array(string.utf8))
    }

    public var stringValue: String? { String(bytes: value, encoding: .utf8) }
}

/// A record read from a topic.
public struct ConsumedRecord: Sendable {
    public let topic: String
    public let partition: Int32
    public let offset: Int64
    public let key: [UInt8]?
    /// The value's bytes; empty for a tombstone (a null value) as for an empty value.
    public let value: [UInt8]
    public let headers: [KafkaHeader]
    /// Milliseconds since the epoch, as the broker or producer stamped it; nil if absent.
    public let timestampMs: Int64?

    public init(topic: String, partition: Int32, offset: Int64, key: [UInt8]?, value: [UInt8],
                headers: [KafkaHeader] = [], timestampMs: Int64? = nil) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.headers = headers
        self.timestampMs = timestampMs
    }

    public var topicPartition: TopicPartition { TopicPartition(topic, partition) }
    public var keyString: String? { key.flatMap { String(bytes: $0, encoding: .utf8) } }
    public func header(_ name: String) -> String? { headers.last { $0.key == name }?.stringValue }
}

/// A record to produce. The partition is chosen by librdkafka's partitioner from the key
/// (murmur2-random, the Java client's default, so every client agrees on where a key lives),
/// unless `partition` names one.
public struct OutgoingMessage: Sendable {
    public let topic: String
    public let key: [UInt8]?
    public let value: [UInt8]
    public let headers: [KafkaHeader]
    /// The partition to write to; nil lets the partitioner pick it from the key.
    public let partition: Int32?
    /// A tombstone has a null value (not an empty one): on a compacted topic it deletes its key.
    public let isTombstone: Bool

    public init(topic: String, key: [UInt8]?, value: [UInt8], headers: [KafkaHeader] = [], partition: Int32? = nil) {
        self.topic = topic
        self.key = key
        self.value = value
        self.headers = headers
        self.partition = partition
        self.isTombstone = false
    }

    /// A record with a null value that deletes `key` from a compacted topic.
    public static func tombstone(topic: String, key: String, headers: [KafkaHeader] = [],
                                 partition: Int32? = nil) -> OutgoingMessage {
        OutgoingMessage(topic: topic, key: Array(key.utf8), headers: headers, partition: partition)
    }

    private init(topic: String, key: [UInt8], headers: [KafkaHeader], partition: Int32?) {
        self.topic = topic
        self.key = key
        self.value = []
        self.headers = headers
        self.partition = partition
        self.isTombstone = true
    }

    public init(topic: String, key: String?, value: String, headers: [KafkaHeader] = [], partition: Int32? = nil) {
        self.init(topic: topic, key: key.map { Array($0.utf8) }, value: Array(value.utf8), headers: headers,
                  partition: partition)
    }
}

/// Where a produced record landed.
public struct DeliveryReport: Sendable, Hashable {
    public let topic: String
    public let partition: Int32
    public let offset: Int64
}
