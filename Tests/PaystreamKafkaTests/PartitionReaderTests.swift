import Foundation
import Logging
import PaystreamKafka
import PaystreamTesting
import Testing

/// `KafkaPartitionReader` against Tansu: whole topics by assignment, and the caught-up rule
/// (every partition reported its end through `enable.partition.eof`).
@Suite("Partition reader against Tansu")
struct PartitionReaderTests {
    let broker: TansuBroker

    init() async throws {
        broker = try await TansuBroker.start()
    }

    var kafka: KafkaConfiguration {
        KafkaConfiguration(bootstrapServers: broker.bootstrapServers, properties: fastKafkaProperties)
    }

    func produce(_ messages: [OutgoingMessage]) async throws -> [DeliveryReport] {
        let producer = try KafkaProducer(configuration: kafka, logger: Logger(label: "test"))
        let results = await producer.send(messages)
        await producer.close()
        return try results.map { try $0.get() }
    }

    func reader() throws -> KafkaPartitionReader {
        try KafkaPartitionReader(configuration: kafka, logger: Logger(label: "test.reader"))
    }

    /// Polls until the reader is caught up; records what was read, and what had been read each
    /// time a poll ended with the reader not caught up.
    func readUntilCaughtUp(_ reader: KafkaPartitionReader, timeout: Duration = .seconds(30)) async throws
        -> (records: [ConsumedRecord], ends: [TopicPartition: Int64]) {
        var records: [ConsumedRecord] = []
        var ends: [TopicPartition: Int64] = [:]
        let deadline = ContinuousClock.now + timeout
        while !reader.isCaughtUp {
            guard ContinuousClock.now < deadline else {
                throw TestSupportError("not caught up within \(timeout); behind: \(reader.partitionsBehind)")
            }
            let poll = try await reader.poll(maxRecords: 7, maxWait: .milliseconds(50))
            records += poll.records
            ends.merge(poll.reachedEnd) { _, new in new }
        }
        return (records, ends)
    }

    @Test("records over several partitions and an empty one: caught up only once every record is read")
    func caughtUpAfterEveryRecord() async throws {
        defer { broker.stop() }
        try broker.createTopics(["ref.a"], partitions: 4)
        try broker.createTopics(["ref.b"], partitions: 2)
        // 30 records over partitions 0…2 of ref.a; ref.a[3] and all of ref.b stay empty.
        let counts: [Int32: Int] = [0: 13, 1: 10, 2: 7]
        var messages: [OutgoingMessage] = []
        for (partition, count) in counts.sorted(by: { $0.key < $1.key }) {
            for i in 0..<count {
                messages.append(OutgoingMessage(topic: "ref.a", key: "k-\(partition)-\(i)", value: "v\(i)", partition: partition))
            }
        }
        let reports = try await produce(messages)
        #expect(Set(reports.map(\.partition)) == [0, 1, 2])

        let reader = try reader()
        try await reader.assignAll(["ref.a", "ref.b"])
        #expect(reader.assignment.count == 6)
        #expect(!reader.isCaughtUp)
        var records: [ConsumedRecord] = []
        var ends: [TopicPartition: Int64] = [:]
        let deadline = ContinuousClock.now + .seconds(30)
        while !reader.isCaughtUp {
            #expect(ContinuousClock.now < deadline, "not caught up; behind: \(reader.partitionsBehind)")
            if ContinuousClock.now >= deadline { break }
            let poll = try await reader.poll(maxRecords: 7, maxWait: .milliseconds(50))
            records += poll.records
            ends.merge(poll.reachedEnd) { _, new in new }
            // The rule under test: a partition reports its end only after all its records.
            for (tp, end) in poll.reachedEnd {
                #expect(records.filter { $0.topicPartition == tp }.count == Int(end), "\(tp) ended at \(end)")
            }
        }
        await reader.close()
        #expect(records.count == 30)
        #expect(Set(records.compactMap(\.keyString)) == Set(messages.compactMap { $0.key.map { String(decoding: $0, as: UTF8.self) } }))
        #expect(ends[TopicPartition("ref.a", 0)] == 13)
        #expect(ends[TopicPartition("ref.a", 1)] == 10)
        #expect(ends[TopicPartition("ref.a", 2)] == 7)
        #expect(ends[TopicPartition("ref.a", 3)] == 0, "an empty partition reports its end at offset 0")
        #expect(ends[TopicPartition("ref.b", 0)] == 0)
        #expect(ends[TopicPartition("ref.b", 1)] == 0)
        #expect(reader.positions[TopicPartition("ref.a", 0)] == 13)
    }

    @Test("from given offsets: only the rest is read, then caught up")
    func fromOffsets() async throws {
        defer { broker.stop() }
        try broker.createTopics(["ref.c"], partitions: 2)
        _ = try await produce((0..<10).map { OutgoingMessage(topic: "ref.c", key: "k\($0)", value: "v\($0)", partition: 0) }
                              + (0..<4).map { OutgoingMessage(topic: "ref.c", key: "j\($0)", value: "w\($0)", partition: 1) })
        let reader = try reader()
        try await reader.assignAll(["ref.c"], starts: [TopicPartition("ref.c", 0): .offset(6), TopicPartition("ref.c", 1): .offset(4)])
        let (records, ends) = try await readUntilCaughtUp(reader)
        await reader.close()
        #expect(records.map(\.offset).sorted() == [6, 7, 8, 9])
        #expect(records.allSatisfy { $0.partition == 0 })
        #expect(ends == [TopicPartition("ref.c", 0): 10, TopicPartition("ref.c", 1): 4])
    }

    @Test("a tombstone is read back with an empty value after the value it deletes")
    func tombstone() async throws {
        defer { broker.stop() }
        try broker.createTopics(["ref.d"], partitions: 1)
        _ = try await produce([OutgoingMessage(topic: "ref.d", key: "m-1", value: "one"),
                               OutgoingMessage(topic: "ref.d", key: "m-2", value: "two"),
                               .tombstone(topic: "ref.d", key: "m-1")])
        let reader = try reader()
        try await reader.assignAll(["ref.d"])
        let (records, _) = try await readUntilCaughtUp(reader)
        await reader.close()
        #expect(records.map(\.keyString) == ["m-1", "m-2", "m-1"])
        #expect(records.last?.value == [])
        var current: [String: String] = [:]
        for record in records {
            if record.value.isEmpty { current[record.keyString!] = nil } else { current[record.keyString!] = String(decoding: record.value, as: UTF8.self) }
        }
        #expect(current == ["m-2": "two"])
    }

    @Test("a running reader sees a record written after it caught up, followed by a new end")
    func laterUpdate() async throws {
        defer { broker.stop() }
        try broker.createTopics(["ref.e"], partitions: 2)
        _ = try await produce([OutgoingMessage(topic: "ref.e", key: "a", value: "1", partition: 0)])
        let reader = try reader()
        try await reader.assignAll(["ref.e"])
        let (first, _) = try await readUntilCaughtUp(reader)
        #expect(first.map(\.keyString) == ["a"])

        _ = try await produce([OutgoingMessage(topic: "ref.e", key: "a", value: "2", partition: 0),
                               OutgoingMessage(topic: "ref.e", key: "b", value: "3", partition: 1)])
        var later: [ConsumedRecord] = []
        var ends: [TopicPartition: Int64] = [:]
        let deadline = ContinuousClock.now + .seconds(30)
        while later.count < 2 || ends.count < 2, ContinuousClock.now < deadline {
            let poll = try await reader.poll(maxRecords: 100, maxWait: .milliseconds(50))
            later += poll.records
            ends.merge(poll.reachedEnd) { _, new in new }
        }
        #expect(reader.isCaughtUp)
        await reader.close()
        #expect(later.map { String(decoding: $0.value, as: UTF8.self) }.sorted() == ["2", "3"])
        #expect(ends == [TopicPartition("ref.e", 0): 2, TopicPartition("ref.e", 1): 1])
    }

    @Test("a topic that does not exist is named in the error")
    func missingTopic() async throws {
        defer { broker.stop() }
        try broker.createTopics(["ref.f"], partitions: 1)
        let reader = try reader()
        do {
            try await reader.assignAll(["ref.f", "ref.nope"])
            Issue.record("assigned a missing topic")
        } catch {
            #expect("\(error)".contains("ref.nope"))
        }
        await reader.close()
    }
}
