import Foundation
import Logging
import PaystreamDomain
import PaystreamKafka
import PaystreamRuntime
import PaystreamStore
import PaystreamTesting
import Testing

@Suite("Worker runtime against Tansu")
struct RuntimeTests {
    let broker: TansuBroker
    let stateDirectory: String

    init() async throws {
        broker = try await TansuBroker.start()
        try broker.createTopics(["in", "in.repartition", "out", "in.dlq", "out.dlq", "recorder.changelog", "merchant-check.changelog"], partitions: 2)
        stateDirectory = try temporaryDirectory()
    }

    func worker(settings: WorkerSettings = WorkerSettings(), tickInterval: Duration? = nil,
                label: String = "", output: String = "out", kafka: [String: String] = [:],
                directory: String? = nil, group: String = "recorder") -> StageWorker<RecordingStage> {
        var logger = Logger(label: "test.worker")
        logger.logLevel = ProcessInfo.processInfo.environment["TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        var settings = settings
        settings.maxBatchWait = .milliseconds(20)
        return StageWorker(stage: RecordingStage(input: "in", output: output, tickInterval: tickInterval, label: label),
                           kafka: KafkaConfiguration(bootstrapServers: broker.bootstrapServers,
                                                     properties: fastKafkaProperties.merging(kafka) { $1 }),
                           groupID: group, stateDirectory: directory ?? stateDirectory, topics: TopicNames(),
                           settings: settings, logger: logger)
    }

    func publish(_ values: [(key: String, value: String)]) async throws {
        try await produce(values.map { OutgoingMessage(topic: "in", key: $0.key, value: $0.value) })
    }

    /// Produces the messages as they are (topic, partition, headers) and waits for delivery.
    func produce(_ messages: [OutgoingMessage]) async throws {
        let producer = try KafkaProducer(configuration: KafkaConfiguration(bootstrapServers: broker.bootstrapServers),
                                         logger: Logger(label: "test"))
        let results = await producer.send(messages)
        await producer.close()
        for result in results { _ = try result.get() }
    }

    /// Runs the worker until `done` holds for what the output topics show, then stops it.
    func run(_ worker: StageWorker<RecordingStage>, reading topics: [String] = ["out"],
             until done: @escaping ([ConsumedRecord]) -> Bool) async throws -> [ConsumedRecord] {
        let task = Task { try await worker.run() }
        let reader = try await TopicReader(bootstrapServers: broker.bootstrapServers, topics: topics)
        let records: [ConsumedRecord]
        do {
            records = try await reader.read(timeout: .seconds(60), until: done)
        } catch {
            task.cancel()
            await reader.close()
            throw error
        }
        // Anything the worker would wrongly publish twice arrives within this window.
        let late = try await reader.readFor(.milliseconds(700))
        task.cancel()
        _ = try? await task.value
        await reader.close()
        return records + late
    }

    @Test("the timer hook acts on every owned shard without any input, in the shard's transaction")
    func timerTicks() async throws {
        defer { broker.stop() }
        let out = try await run(worker(tickInterval: .milliseconds(100))) { records in
            Set(records.compactMap(\.keyString).filter { $0.hasSuffix(":3") }) == ["tick:0:3", "tick:1:3"]
        }
        let ids = Set(out.compactMap(\.keyString))
        for partition in 0..<2 {
            #expect(ids.isSuperset(of: (1...3).map { "tick:\(partition):\($0)" }))
        }
        #expect(ids.count == out.count, "each tick published once")
        #expect(try effects(in: stateDirectory).isEmpty)
    }

    @Test("two instances share the state directory; partitions move between them mid-stream with one effect per input")
    func handover() async throws {
        defer { broker.stop() }
        var next = 0
        func publishMore(_ count: Int) async throws {
            try await publish((next..<next + count).map { ("key-\($0)", #"{"id":"h-\#($0)","n":\#($0)}"#) })
            next += count
        }
        func rows(labelled label: String) throws -> [(id: String, n: Int, label: String, shard: String)] {
            try effects(in: stateDirectory).filter { $0.label == label }
        }
        let first = Task { try await worker(label: "A").run() }
        try await publishMore(100)
        try await eventually { try effects(in: stateDirectory).count == 100 }

        // B joins: the group splits the two partitions. Keep records flowing until B applies some.
        let second = Task { try await worker(label: "B").run() }
        try await eventually(timeout: .seconds(60)) {
            try await publishMore(10)
            return try !rows(labelled: "B").isEmpty
        }
        // A leaves: its partition moves to B, and B carries on from A's shard (same state dir).
        first.cancel()
        _ = try? await first.value
        try await publishMore(100)
        try await eventually(timeout: .seconds(60)) { try effects(in: stateDirectory).count >= next }
        try await Task.sleep(for: .milliseconds(700))  // anything applied twice would show by now
        second.cancel()
        _ = try? await second.value

        let all = try effects(in: stateDirectory)
        #expect(all.count == next, "one effect per input, whichever instance applied it")
        #expect(Set(all.map(\.id)).count == next)
        #expect(Set(try rows(labelled: "B").map(\.shard)) == ["p0.sqlite", "p1.sqlite"], "B ended up owning both partitions")
        #expect(!(try rows(labelled: "A").isEmpty))
        let reader = try await TopicReader(bootstrapServers: broker.bootstrapServers, topics: ["out"])
        let out = try await reader.read { Set($0.compactMap(\.keyString)).count >= next }
        await reader.close()
        #expect(Set(out.compactMap(\.keyString)).count == next)
    }

    @Test("a crash between the SQLite commit and the outbox publish: the restarted worker publishes the same events once")
    func crashBeforePublish() async throws {
        defer { broker.stop() }
        let ids = (0..<20).map { "id-\($0)" }
        try await publish(ids.map { ($0, #"{"id":"\#($0)","n":7}"#) })

        var crashing = WorkerSettings()
        crashing.crashPoint = .afterCommitBeforePublish
        await #expect(throws: SimulatedCrash.self) { try await worker(settings: crashing).run() }

        // The crash came after the commit: some effects are stored, nothing was published.
        let stored = try effects(in: stateDirectory)
        #expect(!stored.isEmpty)
        let early = try await TopicReader(bootstrapServers: broker.bootstrapServers, topics: ["out"])
        #expect(try await early.readFor(.milliseconds(500)).isEmpty)
        await early.close()

        let out = try await run(worker()) { Set($0.compactMap(\.keyString)) == Set(ids) }
        #expect(out.count == ids.count)
        #expect(Set(out.compactMap { $0.header("event-id") }) == Set(ids.map { "out:\($0)" }))
        // Each input took effect exactly once across both runs.
        let rows = try effects(in: stateDirectory)
        #expect(rows.count == ids.count)
        #expect(Set(rows.map(\.id)) == Set(ids))
    }

    @Test("the outbox watermark is stored once a shard is idle and when the worker stops; a restart publishes nothing again")
    func watermarkStored() async throws {
        defer { broker.stop() }
        func unsent() throws -> Int {
            try ShardInspection.read(stateDirectory: stateDirectory, stage: "recorder") { try RuntimeTables.unsentCount($0) }.reduce(0, +)
        }
        func watermarks() throws -> [Int64] {
            try ShardInspection.read(stateDirectory: stateDirectory, stage: "recorder") { try RuntimeTables.publishedThrough($0) }
        }
        try await publish((0..<20).map { ("key-\($0)", #"{"id":"w-\#($0)","n":1}"#) })
        let running = Task { try await worker().run() }
        let reader = try await TopicReader(bootstrapServers: broker.bootstrapServers, topics: ["out"])
        _ = try await reader.read(timeout: .seconds(60)) { $0.count >= 20 }
        // Running and idle: the delivered rows are recorded as published without a new batch.
        try await eventually(timeout: .seconds(10)) { try unsent() == 0 }
        #expect(try watermarks().allSatisfy { $0 > 0 })

        try await publish((20..<30).map { ("key-\($0)", #"{"id":"w-\#($0)","n":1}"#) })
        _ = try await reader.read(timeout: .seconds(60)) { $0.count >= 10 }
        running.cancel()
        _ = try? await running.value
        #expect(try unsent() == 0, "stopping stores the watermark of what was delivered")

        let again = Task { try await worker().run() }
        let republished = try await reader.readFor(.seconds(3))
        again.cancel()
        _ = try? await again.value
        await reader.close()
        #expect(republished.count == 0, "a restart after a clean stop publishes nothing again")
        #expect(try effects(in: stateDirectory).count == 30)
    }
}

/// Polls `condition` every 50 ms until it holds, or throws after `timeout`.
func eventually(timeout: Duration = .seconds(30), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        guard ContinuousClock.now < deadline else { throw TestSupportError("condition not met within \(timeout)") }
        try await Task.sleep(for: .milliseconds(50))
    }
}
