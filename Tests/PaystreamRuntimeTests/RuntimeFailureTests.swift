import Foundation
import GRDB
import Logging
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaystreamRuntime
import PaystreamStore
import PaystreamTesting
import Testing

/// The runtime fails loudly, never silently: a record that breaks the stage is parked, a message
/// the broker refuses is parked, a producer that cannot deliver stops the worker.
extension RuntimeTests {
    func letters(_ records: [ConsumedRecord], on topic: String) throws -> [DeadLetterMessage] {
        try records.filter { $0.topic == topic }.map { try Wire.decode(DeadLetterMessage.self, from: Data($0.value)) }
    }

    @Test("a record whose decision throws (a bug) every attempt is parked as stage_error; the rest of its batch commits")
    func stageErrorParked() async throws {
        defer { broker.stop() }
        try await publish([("k", #"{"id":"a","n":1}"#), ("k", #"{"id":"bug","n":3}"#), ("k", #"{"id":"b","n":2}"#)])
        var settings = WorkerSettings()
        settings.batchAttempts = 2
        let records = try await run(worker(settings: settings), reading: ["out", "in.dlq"]) { records in
            records.filter { $0.topic == "out" }.count == 2 && records.contains { $0.topic == "in.dlq" }
        }
        let parked = try letters(records, on: "in.dlq")
        #expect(parked.map(\.errorCode) == ["stage_error"])
        #expect(parked.first?.errorMessage.contains("an id that starts with bug") == true)
        #expect(parked.first?.sourceOffset == 1)
        #expect(records.filter { $0.topic == "out" }.map(\.keyString) == ["a", "b"])
        #expect(try effects(in: stateDirectory).map(\.id).sorted() == ["a", "b"])
    }

    @Test("a record refused after it queued its output: the output is taken back with its savepoint and never published; the dead letter is")
    func refusalTakesQueuedOutputBack() async throws {
        defer { broker.stop() }
        try await publish([("k", #"{"id":"a","n":1}"#), ("k", #"{"id":"late","n":2}"#), ("k", #"{"id":"b","n":3}"#)])
        let records = try await run(worker(), reading: ["out", "in.dlq"]) { records in
            records.filter { $0.topic == "out" }.count >= 2 && records.contains { $0.topic == "in.dlq" }
        }
        // One key, one partition, in order: had the refused record's row been published, it would come before b.
        #expect(records.filter { $0.topic == "out" }.map(\.keyString) == ["a", "b"])
        let parked = try letters(records, on: "in.dlq")
        #expect(parked.map(\.errorCode) == ["refused_late"])
        #expect(try effects(in: stateDirectory).map(\.id).sorted() == ["a", "b"])
        let outbox = try ShardInspection.read(stateDirectory: stateDirectory, stage: "recorder") { try RuntimeTables.all($0) }.flatMap { $0 }
        #expect(!outbox.contains { $0.eventID == "out:late" })
        let unsent = outbox.filter { !$0.sent }.map(\.eventID)
        #expect(unsent.isEmpty, "\(unsent)")
    }

    @Test("an outbox message the broker refuses for good goes to its topic's dead-letter topic; later messages flow")
    func refusedMessageParked() async throws {
        defer { broker.stop() }
        try await publish([("k", #"{"id":"big","n":1,"padBytes":200000}"#), ("k", #"{"id":"small","n":2}"#)])
        let records = try await run(worker(kafka: ["message.max.bytes": "100000"]), reading: ["out", "out.dlq"]) { records in
            records.contains { $0.topic == "out" } && records.contains { $0.topic == "out.dlq" }
        }
        let parked = try letters(records, on: "out.dlq")
        #expect(parked.map(\.errorCode) == ["refused_by_broker"])
        #expect(parked.first?.sourceTopic == "out")
        #expect(parked.first?.errorMessage.contains("out:big") == true)
        #expect(parked.first?.originalKey == "big")
        #expect(records.filter { $0.topic == "out" }.map(\.keyString) == ["small"])
        // Both effects are stored: the refusal concerns the message, not the decision.
        #expect(try effects(in: stateDirectory).map(\.id).sorted() == ["big", "small"])
    }

    @Test("deliveries failing for longer than the configured time stop the worker with an error; the rows stay unsent")
    func deliveryFailureStops() async throws {
        defer { broker.stop() }
        try await publish([("k", #"{"id":"lost","n":1}"#)])
        var settings = WorkerSettings()
        settings.deliveryFailureTimeout = .seconds(2)
        // The stage writes to a topic the broker cannot have (a name over Kafka's 249 characters):
        // every delivery fails.
        let worker = worker(settings: settings, output: String(repeating: "t", count: 300),
                            kafka: ["message.timeout.ms": "500", "topic.metadata.refresh.interval.ms": "100"])
        let started = ContinuousClock.now
        await #expect(throws: ProducerFailure.self) { try await worker.run() }
        #expect(ContinuousClock.now - started < .seconds(60))
        let unsent = try ShardInspection.read(stateDirectory: stateDirectory, stage: "recorder") { try RuntimeTables.unsentCount($0) }
        #expect(unsent.reduce(0, +) == 1)
    }
}

extension RuntimeTests {
    @Test("a shard records its stage, partition count and routing; a worker on topics with another count refuses to start")
    func partitionCountChanged() async throws {
        defer { broker.stop() }
        try await publish([("k", #"{"id":"a","n":1}"#)])
        _ = try await run(worker()) { $0.contains { $0.topic == "out" } }
        let identities = try ShardInspection.read(stateDirectory: stateDirectory, stage: "recorder") { try RuntimeTables.identity($0) }
        #expect(!identities.isEmpty)
        #expect(identities.allSatisfy { $0?.partitionCount == 2 && $0?.stage == "recorder" && $0?.routing.hasPrefix("murmur2") == true })

        // The same stage and state directory, reading topics with three partitions.
        try broker.createTopics(["in3", "in3.repartition", "in3.dlq"], partitions: 3)
        var logger = Logger(label: "test.worker")
        logger.logLevel = .critical
        let other = StageWorker(stage: RecordingStage(input: "in3", output: "out"),
                                kafka: KafkaConfiguration(bootstrapServers: broker.bootstrapServers, properties: fastKafkaProperties),
                                groupID: "recorder", stateDirectory: stateDirectory, topics: TopicNames(), logger: logger)
        await #expect { try await other.run() } throws: { error in
            "\(error)".contains("have 3 partitions now") && "\(error)".contains("recorder partition")
        }
    }

    @Test("a shard file missing for a partition the group committed offsets for, with nothing in its changelog, is refused, naming the file")
    func missingShardRefused() async throws {
        defer { broker.stop() }
        try await publish((0..<20).map { ("key-\($0)", #"{"id":"m-\#($0)","n":1}"#) })
        // Written without a changelog (as a version before it did): the file is the only copy.
        var withoutChangelog = WorkerSettings()
        withoutChangelog.changelog = false
        _ = try await run(worker(settings: withoutChangelog)) { $0.filter { $0.topic == "out" }.count == 20 }
        let shards = ShardInspection.shardPaths(stateDirectory: stateDirectory, stage: "recorder")
        #expect(shards.count == 2)
        // The group's offsets for both partitions are committed (the worker commits them after each batch).
        let probe = try KafkaConsumer(configuration: KafkaConfiguration(bootstrapServers: broker.bootstrapServers),
                                      groupID: "recorder", logger: Logger(label: "test"))
        try await eventually(timeout: .seconds(20)) {
            try await probe.committedOffsets([TopicPartition("in", 0), TopicPartition("in", 1)]).count == 2
        }
        await probe.close()
        let removed = shards[0]
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: removed + suffix) }

        let restarted = worker()
        await #expect { try await restarted.run() } throws: { error in
            "\(error)".contains("shard file \(removed) is missing and its changelog recorder.changelog[") && "\(error)".contains("committed offsets")
        }
        #expect(!FileManager.default.fileExists(atPath: removed), "no empty shard was created in its place")
    }
}

extension RuntimeTests {
    @Test("a large outbox backlog is published a bounded round at a time, with polls in between; every row goes out once")
    func publishRoundsBounded() async throws {
        defer { broker.stop() }
        let ids = (0..<120).map { "b-\($0)" }
        try await publish(ids.map { ("k", #"{"id":"\#($0)","n":1}"#) })
        // A crash after the commit leaves every row of the batch unsent.
        var crashing = WorkerSettings()
        crashing.crashPoint = .afterCommitBeforePublish
        await #expect(throws: SimulatedCrash.self) { try await worker(settings: crashing).run() }
        // The restarted worker publishes 10 rows per round, one round of the shard at a time,
        // and polls between rounds.
        var settings = WorkerSettings()
        settings.outboxBatch = 10
        let restarted = worker(settings: settings)
        let out = try await run(restarted) { Set($0.compactMap(\.keyString)).count == ids.count }
        #expect(out.count == ids.count, "each row published once")
        // The loop starts rounds at two points of each turn (after the batch, and after ticks
        // and pruning); a round read from the file waits for the shard's previous one, so a turn
        // starts a second only when the first has landed meanwhile (a fast broker, a slow turn):
        // at most two of the backlog's twelve rounds between polls, never the backlog at once.
        #expect((1...2).contains(restarted.statistics.maxPublishRoundsBetweenPolls))
    }

    @Test("rounds of a shard overlap on their way to the broker, and every output partition still gets its rows in the order they were written, once")
    func roundsOverlapInOrder() async throws {
        defer { broker.stop() }
        // One key: one input partition, one shard, one batch that queues every output in order.
        let ids = (0..<300).map { String(format: "o-%03d", $0) }
        try await publish(ids.map { ("k", #"{"id":"\#($0)","n":1}"#) })
        var settings = WorkerSettings()
        settings.outboxBatch = 5
        let worker = worker(settings: settings)
        let out = try await run(worker) { Set($0.compactMap(\.keyString)).count == ids.count }
        #expect(out.count == ids.count, "each row published once")
        #expect(worker.statistics.maxRoundsInFlightPerShard > 1, "the rounds overlapped")
        #expect(worker.statistics.maxRoundsInFlightPerShard <= settings.roundsInFlight)
        for partition in Set(out.map(\.partition)) {
            let keys = out.filter { $0.partition == partition }.sorted { $0.offset < $1.offset }.compactMap(\.keyString)
            #expect(keys == keys.sorted(), "partition \(partition) of out in the order the rows were written")
        }
    }
}

