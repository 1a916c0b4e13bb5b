import Foundation
import Logging
import PaystreamKafka
import PaystreamStore
import PaystreamTesting
import Testing

/// A group member that answers rebalances the way the worker runtime does, in a background task.
final class GroupMember: @unchecked Sendable {
    let consumer: KafkaConsumer
    private let lock = NSLock()
    private var _assignment: Set<TopicPartition> = []
    private var _records: [ConsumedRecord] = []
    private var task: Task<Void, any Error>?

    init(brokers: String, group: String, topic: String) throws {
        consumer = try KafkaConsumer(configuration: KafkaConfiguration(bootstrapServers: brokers, properties: fastKafkaProperties),
                                     groupID: group, logger: Logger(label: "test.member"))
        try consumer.subscribe([topic])
        task = Task { [consumer] in
            while !Task.isCancelled {
                let poll = try await consumer.poll(maxRecords: 100, maxWait: .milliseconds(50))
                self.lock.withLock { self._records += poll.records }
                switch poll.rebalance {
                case .assigned(let partitions):
                    try consumer.accept(assignment: Dictionary(uniqueKeysWithValues: partitions.map { ($0, StartOffset.beginning) }))
                    self.lock.withLock { self._assignment = Set(partitions) }
                case .revoked:
                    try consumer.acknowledgeRevocation()
                    self.lock.withLock { self._assignment = [] }
                case nil:
                    break
                }
            }
        }
    }

    var assignment: Set<TopicPartition> { lock.withLock { _assignment } }
    var records: [ConsumedRecord] { lock.withLock { _records } }

    func leave() async {
        task?.cancel()
        _ = try? await task?.value
        await consumer.close()
    }
}

func eventually(timeout: Duration = .seconds(30), _ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        guard ContinuousClock.now < deadline else { throw TestSupportError("condition not met within \(timeout)") }
        try await Task.sleep(for: .milliseconds(50))
    }
}

@Suite("Kafka consumer groups against Tansu")
struct GroupTests {
    @Test("two consumers split the partitions, and one takes them all back when the other leaves")
    func rebalance() async throws {
        let broker = try await TansuBroker.start()
        defer { broker.stop() }
        try broker.createTopics(["t.group"], partitions: 4)
        let all = Set((0..<4).map { TopicPartition("t.group", $0) })

        let first = try GroupMember(brokers: broker.bootstrapServers, group: "g1", topic: "t.group")
        try await eventually { first.assignment == all }

        let second = try GroupMember(brokers: broker.bootstrapServers, group: "g1", topic: "t.group")
        try await eventually {
            let a = first.assignment, b = second.assignment
            return !a.isEmpty && !b.isEmpty && a.isDisjoint(with: b) && a.union(b) == all
        }
        #expect(first.assignment.count == 2)
        #expect(second.assignment.count == 2)

        // Records published now are read by whoever owns their partition, each by one member.
        let producer = try KafkaProducer(configuration: KafkaConfiguration(bootstrapServers: broker.bootstrapServers),
                                         logger: Logger(label: "test"))
        let results = await producer.send((0..<40).map { OutgoingMessage(topic: "t.group", key: "key-\($0)", value: "\($0)") })
        #expect(results.allSatisfy { (try? $0.get()) != nil })
        await producer.close()
        try await eventually { first.records.count + second.records.count >= 40 }
        let firstOwned = first.assignment, secondOwned = second.assignment
        #expect(first.records.allSatisfy { firstOwned.contains($0.topicPartition) })
        #expect(second.records.allSatisfy { secondOwned.contains($0.topicPartition) })
        #expect(Set((first.records + second.records).map { String(decoding: $0.value, as: UTF8.self) }).count == 40)

        await second.leave()
        try await eventually { first.assignment == all }
        await first.leave()
    }

    @Test("a consumer starts where the SQLite shard says, not where the group committed")
    func resumesFromStoredOffsets() async throws {
        let broker = try await TansuBroker.start()
        defer { broker.stop() }
        try broker.createTopics(["t.resume"], partitions: 1)
        let config = KafkaConfiguration(bootstrapServers: broker.bootstrapServers, properties: fastKafkaProperties)
        let producer = try KafkaProducer(configuration: config, logger: Logger(label: "test"))
        _ = await producer.send((0..<10).map { OutgoingMessage(topic: "t.resume", key: "k", value: "m\($0)") })
        await producer.close()

        // The shard says: next offset 6. The group says: 9 (committed by some other tool).
        let directory = try temporaryDirectory()
        let store = try ShardStore(path: "\(directory)/p0.sqlite", partition: 0, schema: .empty)
        try await store.write { try RuntimeTables.storeNextOffset($0, topic: "t.resume", partition: 0, nextOffset: 6, now: Date()) }
        let committer = try KafkaConsumer(configuration: config, groupID: "g-resume", logger: Logger(label: "test"))
        try await committer.commit([TopicPartition("t.resume", 0): 9])
        await committer.close()

        let consumer = try KafkaConsumer(configuration: config, groupID: "g-resume", logger: Logger(label: "test"))
        try consumer.subscribe(["t.resume"])
        var records: [ConsumedRecord] = []
        let deadline = ContinuousClock.now + .seconds(30)
        while records.count < 4 && ContinuousClock.now < deadline {
            let poll = try await consumer.poll(maxRecords: 100, maxWait: .milliseconds(100))
            records += poll.records
            if case .assigned(let partitions) = poll.rebalance {
                let stored = try await store.read { try RuntimeTables.nextOffsets($0) }
                try consumer.accept(assignment: Dictionary(uniqueKeysWithValues: partitions.map {
                    ($0, stored[$0.topic]?[$0.partition].map(StartOffset.offset) ?? .beginning)
                }))
            }
        }
        await consumer.close()
        #expect(records.map(\.offset) == [6, 7, 8, 9])
        #expect(records.map { String(decoding: $0.value, as: UTF8.self) } == ["m6", "m7", "m8", "m9"])
    }
}
