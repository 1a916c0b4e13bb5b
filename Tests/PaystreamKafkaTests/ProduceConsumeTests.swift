import Foundation
import Logging
import PaystreamKafka
import PaystreamTesting
import Testing

@Suite("Kafka against Tansu")
struct ProduceConsumeTests {
    static let fastGroup = ["session.timeout.ms": "2000", "heartbeat.interval.ms": "300", "fetch.wait.max.ms": "10"]

    @Test("produce then read back every message with key, value and headers")
    func produceAndConsume() async throws {
        let broker = try await TansuBroker.start()
        defer { broker.stop() }
        try broker.createTopics(["t.basic"], partitions: 3)
        let producer = try KafkaProducer(configuration: KafkaConfiguration(bootstrapServers: broker.bootstrapServers),
                                         logger: Logger(label: "test"))
        let messages = (0..<50).map { i in
            OutgoingMessage(topic: "t.basic", key: "k\(i % 7)", value: "v\(i)",
                            headers: [KafkaHeader(key: "h", string: "\(i)")])
        }
        let reports = await producer.send(messages)
        #expect(reports.allSatisfy { (try? $0.get()) != nil })
        await producer.close()

        let reader = try await TopicReader(bootstrapServers: broker.bootstrapServers, topics: ["t.basic"])
        let records = try await reader.read { $0.count >= 50 }
        await reader.close()
        #expect(records.count == 50)
        #expect(Set(records.map { String(decoding: $0.value, as: UTF8.self) }) == Set((0..<50).map { "v\($0)" }))
        for record in records {
            let i = Int(String(decoding: record.value, as: UTF8.self).dropFirst())!
            #expect(record.keyString == "k\(i % 7)")
            #expect(record.header("h") == "\(i)")
        }
        // One key, one partition: every record of a key sits in the same partition, in order.
        let byKey = Dictionary(grouping: records, by: { $0.keyString! })
        for (_, group) in byKey {
            #expect(Set(group.map(\.partition)).count == 1)
            let values = group.sorted { $0.offset < $1.offset }.map { Int(String(decoding: $0.value, as: UTF8.self).dropFirst())! }
            #expect(values == values.sorted())
        }
    }
}
