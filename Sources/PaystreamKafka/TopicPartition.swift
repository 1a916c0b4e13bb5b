/// A partition of a topic.
public struct TopicPartition: Hashable, Sendable, CustomStringConvertible, Comparable {
    public let topic: String
    public let partition: Int32

    public init(_ topic: String, _ partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public var description: String { "\(topic)[\(partition)]" }

    public static func < (lhs: TopicPartition, rhs: TopicPartition) -> Bool {
        (lhs.topic, lhs.partition) < (rhs.topic, rhs.partition)
    }
}

/// Where a consumer starts reading an assigned partition.
public enum StartOffset: Hashable, Sendable {
    /// The next offset to read, as stored by the application.
    case offset(Int64)
    /// The first offset the broker still has (a partition never seen before).
    case beginning
}
