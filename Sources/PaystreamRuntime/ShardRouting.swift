import Foundation
import PaystreamKafka
import PaystreamStore

/// Where a record is decided. A stage's state is sharded by `Stage.shardKey`: shard *p* holds the
/// keys whose canonical partition (`KeyPartitioner`, murmur2 mod N) is *p*. Upstream producers may
/// use any partitioner, so a record that arrives on another partition is first forwarded, through
/// the outbox, to the same partition of its topic's repartition topic (ours), and decided there.
/// The forwarded copy carries its origin in headers; the stage sees it as the original record.
struct ShardRouting: Sendable {
    /// The partition count of every input topic (they are co-partitioned), fixed at start.
    let partitionCount: Int32
    let topics: TopicNames
    /// Each input topic's repartition topic (`Stage.repartitionTopic(of:in:)`), and back.
    let repartitions: [String: String]
    let sources: [String: String]

    init(partitionCount: Int32, topics: TopicNames, repartitions: [String: String]) {
        self.partitionCount = partitionCount
        self.topics = topics
        self.repartitions = repartitions
        sources = Dictionary(uniqueKeysWithValues: repartitions.map { ($1, $0) })
    }

    static let sourceTopicHeader = "paystream-source-topic"
    static let sourcePartitionHeader = "paystream-source-partition"
    static let sourceOffsetHeader = "paystream-source-offset"

    enum Route {
        /// Decide `record` (the original, for a forwarded copy) in this shard. `forwardID` is
        /// the id under which the inbox remembers a forwarded copy.
        case decide(ConsumedRecord, forwardID: String?)
        /// Forward the record to this partition of its repartition topic.
        case forward(Int32)
        /// A copy on a repartition topic that does not belong to this shard or lacks its origin.
        case misrouted(String)
    }

    func route(_ record: ConsumedRecord, shardKey: (ConsumedRecord) -> [UInt8]?) -> Route {
        guard let source = sources[record.topic] else {
            guard let key = shardKey(record) else { return .decide(record, forwardID: nil) }
            let canonical = KeyPartitioner.partition(of: key, partitionCount: partitionCount)
            return canonical == record.partition ? .decide(record, forwardID: nil) : .forward(canonical)
        }
        guard record.header(Self.sourceTopicHeader) == source,
              let partition = record.header(Self.sourcePartitionHeader).flatMap(Int32.init),
              let offset = record.header(Self.sourceOffsetHeader).flatMap(Int64.init) else {
            return .misrouted("a record on \(record.topic) without its origin headers")
        }
        let original = ConsumedRecord(topic: source, partition: partition, offset: offset, key: record.key,
                                      value: record.value, headers: record.headers, timestampMs: record.timestampMs)
        if let key = shardKey(original), KeyPartitioner.partition(of: key, partitionCount: partitionCount) != record.partition {
            return .misrouted("forwarded to partition \(record.partition), but its key belongs to another")
        }
        return .decide(original, forwardID: Self.forwardID(of: original))
    }

    /// The outbox row that forwards `record` to `partition` of its repartition topic.
    func forwarding(_ record: ConsumedRecord, to partition: Int32) -> OutboxMessage {
        var headers: [String: String] = [:]
        for header in record.headers { headers[header.key] = header.stringValue }
        headers[Self.sourceTopicHeader] = record.topic
        headers[Self.sourcePartitionHeader] = "\(record.partition)"
        headers[Self.sourceOffsetHeader] = "\(record.offset)"
        return OutboxMessage(eventID: Self.forwardID(of: record), topic: repartitions[record.topic] ?? topics.repartition(of: record.topic),
                             key: record.key, value: Data(record.value), headers: headers, partition: partition)
    }

    static func forwardID(of record: ConsumedRecord) -> String { "fw:\(record.topic):\(record.partition):\(record.offset)" }
}
