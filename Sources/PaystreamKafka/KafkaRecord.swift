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
/// (murmur2-random, the Java client's default, so every client agrees on where a key lives).
public struct OutgoingMessage: Sendable {
    public let topic: String
    public let key: [UInt8]?
    public let value: [UInt8]
    public let headers: [KafkaHeader]

    public init(topic: String, key: [UInt8]?, value: [UInt8], headers: [KafkaHeader] = []) {
        self.topic = topic
        self.key = key
        self.value = value
        self.headers = headers
    }

    public init(topic: String, key: String?, value: String, headers: [KafkaHeader] = []) {
        self.init(topic: topic, key: key.map { Array($0.utf8) }, value: Array(value.utf8), headers: headers)
    }
}

/// Where a produced record landed.
public struct DeliveryReport: Sendable, Hashable {
    public let topic: String
    public let partition: Int32
    public let offset: Int64
}
