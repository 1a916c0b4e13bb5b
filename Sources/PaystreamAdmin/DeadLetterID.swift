import PaystreamKafka

/// Where a dead letter sits: `<dlq topic>:<partition>:<offset>`, e.g.
/// `channel.confirmations.dlq:1:0`. Kafka topic names cannot hold `:`, so the text parses from
/// the right whatever the topic is called.
struct DeadLetterID: Hashable, Comparable, CustomStringConvertible, Sendable {
    let topic: String
    let partition: Int32
    let offset: Int64

    init(topic: String, partition: Int32, offset: Int64) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }

    init(of record: ConsumedRecord) {
        self.init(topic: record.topic, partition: record.partition, offset: record.offset)
    }

    init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, let partition = Int32(parts[1]), let offset = Int64(parts[2]),
              partition >= 0, offset >= 0 else { return nil }
        self.init(topic: String(parts[0]), partition: partition, offset: offset)
    }

    var description: String { "\(topic):\(partition):\(offset)" }

    static func < (a: DeadLetterID, b: DeadLetterID) -> Bool {
        (a.topic, a.partition, a.offset) < (b.topic, b.partition, b.offset)
    }
}
