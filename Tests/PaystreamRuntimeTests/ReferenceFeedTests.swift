import Foundation
import Logging
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaystreamRuntime
import PaystreamReference
import PaystreamStore
import PaystreamTesting
import Testing

/// Stages with a reference feed against Tansu: catch-up before input, every instance holds
/// every key, bad records skipped, updates while running, restart from reference.sqlite.
@Suite("Reference feed against Tansu")
struct ReferenceFeedTests {
    let broker: TansuBroker
    let stateDirectory: String
    let topics = TopicNames()

    init() async throws {
        broker = try await TansuBroker.start()
        try broker.createTopics(["in", "in.repartition", "out", "in.dlq", "recorder.changelog", "merchant-check.changelog"], partitions: 2)
        try broker.createTopics(TopicNames().reference, partitions: 3)
        stateDirectory = try temporaryDirectory()
    }

    var kafka: KafkaConfiguration {
        KafkaConfiguration(bootstrapServers: broker.bootstrapServers, properties: fastKafkaProperties)
    }

    func worker(_ stage: MerchantCheckStage, logger: Logger? = nil) -> StageWorker<MerchantCheckStage> {
        var fallback = Logger(label: "test.worker")
        fallback.logLevel = ProcessInfo.processInfo.environment["TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        var settings = WorkerSettings()
        settings.maxBatchWait = .milliseconds(20)
        settings.referenceCatchUpTimeout = .seconds(30)
        return StageWorker(stage: stage, kafka: kafka, groupID: "merchant-check", stateDirectory: stateDirectory,
                           topics: topics, settings: settings, logger: logger ?? fallback)
    }

    static func merchant(_ id: String, _ status: MerchantStatus = .active, currency: String = "CNY") -> MerchantReference {
        MerchantReference(merchantId: id, status: status, settlementCurrency: currency,
                          fees: ["card": .init(basisPoints: 60)], defaultFee: .init(basisPoints: 30))
    }

    @discardableResult
    func send(_ messages: [OutgoingMessage]) async throws -> [DeliveryReport] {
        let producer = try KafkaProducer(configuration: kafka, logger: Logger(label: "test"))
        let results = await producer.send(messages)
        await producer.close()
        return try results.map { try $0.get() }
    }

    @discardableResult
    func publish(_ updates: [ReferenceUpdate]) async throws -> [DeliveryReport] {
        try await send(try updates.map { try $0.message(in: topics) })
    }

    /// A raw record on reference.merchants.
    func rawMerchant(key: String, _ value: String) -> OutgoingMessage {
        OutgoingMessage(topic: topics.merchants, key: key, value: value)
    }

    func input(_ id: String, merchant: String) -> OutgoingMessage {
        OutgoingMessage(topic: "in", key: id, value: #"{"id":"\#(id)","merchant":"\#(merchant)"}"#)
    }

    /// Reads `out` until every id has an output; returns id → status.
    func outputs(_ ids: Set<String>, reader: TopicReader) async throws -> [String: String] {
        let records = try await reader.read(timeout: .seconds(60)) { records in
            ids.isSubset(of: Set(records.compactMap(\.keyString)))
        }
        var statuses: [String: String] = [:]
        for record in records {
            let output = try JSONDecoder().decode(MerchantCheckStage.Output.self, from: Data(record.value))
            statuses[output.id] = output.status
        }
        return statuses
    }

    func waitUntilRead(_ reports: [DeliveryReport], by data: LiveReferenceData) async throws {
        try await eventually {
            reports.allSatisfy { data.hasRead(topic: $0.topic, partition: $0.partition, offset: $0.offset) }
        }
    }

    @Test("reference data published before the worker started is seen by its first decisions; catch-up is logged before the group is joined")
    func catchUpBeforeInput() async throws {
        defer { broker.stop() }
        // Many keys over every partition, so that a worker deciding before it caught up would miss some.
        let filler = (0..<60).map { ReferenceUpdate.merchant(Self.merchant("m-filler-\($0)")) }
        try await publish(filler + [.merchant(Self.merchant("m-1")), .merchant(Self.merchant("m-2", .suspended))])
        try await send([input("i-1", merchant: "m-1"), input("i-2", merchant: "m-2"), input("i-3", merchant: "m-404"),
                        input("i-4", merchant: "m-filler-59")])

        let capture = LogCapture()
        let live = LiveReferenceData(topics: topics)
        let task = Task { try await worker(MerchantCheckStage(reference: live), logger: capture.logger()).run() }
        let reader = try await TopicReader(bootstrapServers: broker.bootstrapServers, topics: ["out"])
        let statuses = try await outputs(["i-1", "i-2", "i-3", "i-4"], reader: reader)
        task.cancel()
        _ = try? await task.value
        await reader.close()

        #expect(statuses == ["i-1": "active", "i-2": "suspended", "i-3": "unknown", "i-4": "active"])
        let messages = capture.all.map(\.message)
        let caughtUp = try #require(messages.firstIndex(of: "reference data caught up"))
        let assigned = try #require(messages.firstIndex(of: "partitions assigned"))
        #expect(caughtUp < assigned)
        let summary = capture.all[caughtUp].metadata
        #expect(summary["reference.keys"] == "reference.merchants=62,reference.credit-lines=0,reference.fx-rates=0")
        #expect(summary["reference.records_read"] == "reference.merchants=62,reference.credit-lines=0,reference.fx-rates=0")
        #expect(summary["duration_ms"] != nil)
    }

    @Test("two instances in one group split the input partitions and each holds every reference key")
    func everyInstanceHoldsEveryKey() async throws {
        defer { broker.stop() }
        let ids = (0..<40).map { "m-\($0)" }
        try await publish(ids.map { .merchant(Self.merchant($0)) })
        let liveA = LiveReferenceData(topics: topics), liveB = LiveReferenceData(topics: topics)
        let first = Task { try await worker(MerchantCheckStage(reference: liveA, label: "A")).run() }
        let second = Task { try await worker(MerchantCheckStage(reference: liveB, label: "B")).run() }
        var next = 0
        func publishMore(_ count: Int) async throws {
            try await send((next..<next + count).map { input("i-\($0)", merchant: ids[$0 % ids.count]) })
            next += count
        }
        do {
            // Keep input flowing until both instances have decided some (the group split the partitions).
            try await eventually(timeout: .seconds(60)) {
                try await publishMore(10)
                let labels = Set(try decisions(in: stateDirectory).map(\.label))
                return labels == ["A", "B"]
            }
            try await eventually { try decisions(in: stateDirectory).count >= next }
        } catch {
            first.cancel()
            second.cancel()
            throw error
        }
        first.cancel()
        second.cancel()
        _ = try? await first.value
        _ = try? await second.value

        for live in [liveA, liveB] {
            #expect(Set(live.snapshot.merchants.keys) == Set(ids), "every instance holds every merchant")
        }
        let rows = try decisions(in: stateDirectory)
        #expect(rows.count == next)
        #expect(rows.allSatisfy { $0.status == "active" }, "every decision saw its merchant")
        #expect(Set(rows.filter { $0.label == "A" }.map(\.shard)).count >= 1)
        #expect(Set(rows.filter { $0.label == "B" }.map(\.shard)).count >= 1)
        let stored = try storedReference(in: stateDirectory)
        #expect(Set(stored.keys) == Set(ids.map { "reference.merchants/\($0)" }), "the shared reference.sqlite holds every key once")
    }

    @Test("a bad reference record is skipped with a warning naming topic, partition and offset; the key keeps its previous value")
    func badRecordSkipped() async throws {
        defer { broker.stop() }
        let good = try await publish([.merchant(Self.merchant("m-1"))])
        let bad = try await send([
            rawMerchant(key: "m-1", "{not json"),
            rawMerchant(key: "m-1", String(decoding: try Wire.encode(CreditLineReference(payerId: "m-1", limits: ["CNY": 1])), as: UTF8.self)),
            rawMerchant(key: "m-1", String(decoding: try Wire.encode(Self.merchant("m-2", .suspended)), as: UTF8.self)),
            rawMerchant(key: "m-1", String(decoding: try Wire.encode(Self.merchant("m-1", .suspended, currency: "XXY")), as: UTF8.self)),
            rawMerchant(key: "m-1", #"{"schema":"merchant/v1","merchant_id":"m-1","status":"suspended","settlement_currency":"CNY","fees":{"card":{"basis_points":20000,"fixed":0}}}"#),
            rawMerchant(key: "m-1", #"{"schema":"merchant/v2","merchant_id":"m-1","status":"suspended","settlement_currency":"CNY"}"#),
        ])
        #expect(Set(bad.map(\.partition)) == [good[0].partition], "one key, one partition")
        try await publish([.merchant(Self.merchant("m-3", .suspended))])
        try await send([input("i-1", merchant: "m-1"), input("i-3", merchant: "m-3")])

        let capture = LogCapture()
        let live = LiveReferenceData(topics: topics)
        let task = Task { try await worker(MerchantCheckStage(reference: live), logger: capture.logger()).run() }
        let reader = try await TopicReader(bootstrapServers: broker.bootstrapServers, topics: ["out"])
        var statuses = try await outputs(["i-1", "i-3"], reader: reader)
        #expect(statuses == ["i-1": "active", "i-3": "suspended"])

        // While running: another bad record for m-1; the worker goes on and m-1 stays active.
        let later = try await send([rawMerchant(key: "m-1", #"{"schema":"merchant/v1","merchant_id":"m-1"}"#)])
        try await waitUntilRead(later, by: live)
        try await send([input("i-1b", merchant: "m-1")])
        statuses = try await outputs(["i-1b"], reader: reader)
        task.cancel()
        _ = try? await task.value
        await reader.close()

        #expect(statuses["i-1b"] == "active")
        #expect(live.merchant("m-1") == Self.merchant("m-1"))
        let warnings = capture.all.filter { $0.level == .warning && $0.message.hasPrefix("reference record skipped") }
        #expect(warnings.map { $0.metadata["kafka.offset"] } == (bad + later).map { "\($0.offset)" })
        #expect(warnings.allSatisfy { $0.metadata["kafka.topic"] == topics.merchants && $0.metadata["kafka.partition"] == "\(good[0].partition)" })
        let reasons = warnings.compactMap { $0.metadata["error"] }
        #expect(reasons.count == 7)
        if reasons.count == 7 {
            #expect(reasons[0].contains("not a JSON object"))
            #expect(reasons[1].contains("credit-line/v1"))
            #expect(reasons[2].contains("does not match"))
            #expect(reasons[3].contains("XXY"))
            #expect(reasons[4].contains("basis_points"))
            #expect(reasons[5].contains("merchant/v2"))
        }
        let stored = try storedReference(in: stateDirectory)
        #expect(stored["reference.merchants/m-1"]?.offset == good[0].offset, "the file keeps the last good record")
    }

    @Test("an update and a tombstone published while the worker runs are seen by the next batch")
    func updatesWhileRunning() async throws {
        defer { broker.stop() }
        try await publish([.merchant(Self.merchant("m-1")), .merchant(Self.merchant("m-2"))])
        let live = LiveReferenceData(topics: topics)
        let task = Task { try await worker(MerchantCheckStage(reference: live)).run() }
        let reader = try await TopicReader(bootstrapServers: broker.bootstrapServers, topics: ["out"])
        do {
            try await send([input("i-1", merchant: "m-1")])
            #expect(try await outputs(["i-1"], reader: reader)["i-1"] == "active")

            try await waitUntilRead(try await publish([.merchant(Self.merchant("m-1", .suspended))]), by: live)
            try await send([input("i-2", merchant: "m-1")])
            #expect(try await outputs(["i-2"], reader: reader)["i-2"] == "suspended")

            try await waitUntilRead(try await publish([.deletion(.merchant, key: "m-1")]), by: live)
            try await send([input("i-3", merchant: "m-1"), input("i-4", merchant: "m-2")])
            let statuses = try await outputs(["i-3", "i-4"], reader: reader)
            #expect(statuses["i-3"] == "unknown")
            #expect(statuses["i-4"] == "active")
        } catch {
            task.cancel()
            await reader.close()
            throw error
        }
        task.cancel()
        _ = try? await task.value
        await reader.close()
        let stored = try storedReference(in: stateDirectory)
        #expect(stored["reference.merchants/m-1"].map { $0.value == nil } == true, "a deleted key is kept as a tombstone row")
    }

    @Test("a restarted worker loads reference.sqlite and reads only what was published since")
    func restartFromFile() async throws {
        defer { broker.stop() }
        let firstBatch = try await publish([.merchant(Self.merchant("m-1")), .merchant(Self.merchant("m-2")),
                                            .creditLine(CreditLineReference(payerId: "user-1", limits: ["CNY": 100_000], installmentPlans: [3, 6, 12]))])
        let first = LiveReferenceData(topics: topics)
        let run1 = Task { try await worker(MerchantCheckStage(reference: first)).run() }
        let reader = try await TopicReader(bootstrapServers: broker.bootstrapServers, topics: ["out"])
        // One decision, so the first run is a settled group member when it stops (a member that
        // leaves in the middle of its first join can hold the group up on Tansu).
        try await send([input("i-0", merchant: "m-1")])
        #expect(try await outputs(["i-0"], reader: reader)["i-0"] == "active")
        try await waitUntilRead(firstBatch, by: first)
        run1.cancel()
        _ = try? await run1.value

        // While it is down: one update, one deletion.
        try await publish([.merchant(Self.merchant("m-1", .suspended)), .deletion(.merchant, key: "m-2")])
        // A value only the file has shows that the restart loads the file rather than the topic.
        let store = try ReferenceStore(path: ReferenceStore.path(stateDirectory: stateDirectory, stage: "merchant-check"))
        try await store.save([StoredReferenceValue(topic: topics.merchants, key: "m-file",
                                                   value: try Wire.encode(Self.merchant("m-file")), partition: 0, offset: 0)],
                             progress: [:], now: Date())
        try store.close()

        let second = LiveReferenceData(topics: topics)
        let counting = CountingFeed(second)
        let run2 = Task { try await worker(MerchantCheckStage(reference: second, feed: counting)).run() }
        try await send([input("i-1", merchant: "m-1"), input("i-2", merchant: "m-2"), input("i-f", merchant: "m-file")])
        let statuses = try await outputs(["i-1", "i-2", "i-f"], reader: reader)
        run2.cancel()
        _ = try? await run2.value
        await reader.close()

        // (i-0's output may come again: the first run may have stopped before marking it sent.)
        #expect(statuses.filter { $0.key != "i-0" } == ["i-1": "suspended", "i-2": "unknown", "i-f": "active"])
        #expect(second.creditLine(payerID: "user-1")?.installmentPlans == [3, 6, 12])
        // 4 values from the file (m-1, m-2, user-1, m-file) + the 2 records published since.
        #expect(counting.applied == 6)
    }

    @Test("no broker: the worker stops with an error naming the reference topics within its catch-up timeout")
    func unreachableBroker() async throws {
        broker.stop()
        let live = LiveReferenceData(topics: topics)
        var settings = WorkerSettings()
        settings.referenceCatchUpTimeout = .seconds(2)
        var logger = Logger(label: "test.worker")
        logger.logLevel = .critical
        let worker = StageWorker(stage: MerchantCheckStage(reference: live), kafka: kafka, groupID: "merchant-check",
                                 stateDirectory: stateDirectory, topics: topics, settings: settings, logger: logger)
        let started = ContinuousClock.now
        do {
            try await worker.run()
            Issue.record("the worker ran without a broker")
        } catch let error as ReferenceCatchUpError {
            #expect(error.description.contains("no Kafka broker answered for the reference topics reference.merchants"), "\(error)")
        }
        #expect(ContinuousClock.now - started < .seconds(30))
    }

    @Test("live reference data: invalid values are refused and keep the previous value; a tombstone deletes")
    func liveReferenceDataRules() throws {
        defer { broker.stop() }
        let live = LiveReferenceData(topics: topics)
        func entry(_ topic: String, _ key: String, _ value: String?, offset: Int64) -> ReferenceEntry {
            ReferenceEntry(topic: topic, key: key, value: value.map { Data($0.utf8) }, partition: 0, offset: offset)
        }
        let good = String(decoding: try Wire.encode(Self.merchant("m-1")), as: UTF8.self)
        try live.apply(entry(topics.merchants, "m-1", good, offset: 0))
        let refused: [(String, String, String)] = [
            (topics.merchants, "m-1", "[]"),
            (topics.merchants, "m-1", #"{"schema":"merchant/v1","merchant_id":"m-1","status":"active","settlement_currency":"cny"}"#),
            (topics.merchants, "m-1", #"{"schema":"merchant/v1","merchant_id":"m-1","status":"active","settlement_currency":"CNY","default_fee":{"basis_points":10,"fixed":-5}}"#),
            (topics.merchants, "m-1", #"{"schema":"merchant/v1","merchant_id":"m-1","status":"active","settlement_currency":"CNY","fees":{"bitcoin":{"basis_points":10,"fixed":0}}}"#),
            (topics.creditLines, "user-1", #"{"schema":"credit-line/v1","payer_id":"user-1","limits":{"CNY":-1}}"#),
            (topics.fxRates, "USD/CNY", #"{"schema":"fx-rate/v1","base":"USD","quote":"CNY","rate":"-7.1","source":"test","as_of":"2026-11-24T00:00:00Z"}"#),
            (topics.fxRates, "USD/CNY", #"{"schema":"fx-rate/v1","base":"USD","quote":"JPY","rate":"150","source":"test","as_of":"2026-11-24T00:00:00Z"}"#),
            ("other.topic", "m-1", good),
        ]
        for (offset, (topic, key, value)) in refused.enumerated() {
            #expect(throws: ReferenceRejection.self, "\(value)") { try live.apply(entry(topic, key, value, offset: Int64(offset + 1))) }
        }
        #expect(live.merchant("m-1") == Self.merchant("m-1"))
        try live.apply(entry(topics.fxRates, "USD/CNY", #"{"schema":"fx-rate/v1","base":"USD","quote":"CNY","rate":"7.1234","source":"test","as_of":"2026-11-24T00:00:00Z"}"#, offset: 20))
        #expect(live.fxRate(base: "USD", quote: "CNY")?.exchangeRate?.decimalString == "7.1234")
        try live.apply(entry(topics.merchants, "m-1", nil, offset: 21))
        #expect(live.merchant("m-1") == nil)
        #expect(live.hasRead(topic: topics.merchants, partition: 0, offset: 21))
        #expect(!live.hasRead(topic: topics.merchants, partition: 0, offset: 22))
    }

    @Test("live reference data with bounds: a fee plan, commission, credit limit or FX move outside them is refused and counted; the key keeps its value")
    func liveReferenceDataBounds() throws {
        defer { broker.stop() }
        let bounds = ReferenceBounds(maxFeeBasisPoints: 500, maxFixedFee: ["CNY": 1_000], maxCommissionBasisPoints: 2_000,
                                     maxCreditLimit: ["CNY": 10_000_000], maxFxChangeBasisPoints: 1_000)
        let live = LiveReferenceData(topics: topics, bounds: bounds)
        var offset: Int64 = 0
        func apply(_ topic: String, _ key: String, _ value: String) throws {
            offset += 1
            try live.apply(ReferenceEntry(topic: topic, key: key, value: Data(value.utf8), partition: 0, offset: offset))
        }
        func merchant(_ terms: String) -> String {
            #"{"schema":"merchant/v1","merchant_id":"m-1","status":"active","settlement_currency":"CNY"\#(terms)}"#
        }
        func rate(_ value: String) -> String {
            #"{"schema":"fx-rate/v1","base":"USD","quote":"CNY","rate":"\#(value)","source":"test","as_of":"2026-11-24T00:00:00Z"}"#
        }
        try apply(topics.merchants, "m-1", merchant(#","default_fee":{"basis_points":500,"fixed":1000},"commission_basis_points":2000"#))
        try apply(topics.creditLines, "user-1", #"{"schema":"credit-line/v1","payer_id":"user-1","limits":{"CNY":10000000,"USD":99999999}}"#)
        try apply(topics.fxRates, "USD/CNY", rate("7.1"))
        try apply(topics.fxRates, "USD/CNY", rate("7.8"))  // 9.9 %: within
        let refused: [(String, String, String, String)] = [
            (topics.merchants, "m-1", merchant(#","default_fee":{"basis_points":501,"fixed":0}"#), "default_fee.basis_points 501 is above the configured maximum 500"),
            (topics.merchants, "m-1", merchant(#","fees":{"card":{"basis_points":10,"fixed":1001}}"#), "fees.card.fixed 1001 CNY is above the configured maximum 1000"),
            (topics.merchants, "m-1", merchant(#","commission_basis_points":2001"#), "commission_basis_points 2001 is above the configured maximum 2000"),
            (topics.creditLines, "user-1", #"{"schema":"credit-line/v1","payer_id":"user-1","limits":{"CNY":10000001}}"#, "limits.CNY 10000001 is above the configured maximum 10000000"),
            (topics.fxRates, "USD/CNY", rate("8.6"), "moves 1026 basis points from the current 7.8"),
            (topics.fxRates, "USD/CNY", rate("0.78"), "moves 9000 basis points"),
        ]
        for (topic, key, value, words) in refused {
            #expect { try apply(topic, key, value) } throws: { "\($0)".contains("outside the configured bounds") && "\($0)".contains(words) }
        }
        #expect(live.merchant("m-1")?.defaultFee?.basisPoints == 500 && live.merchant("m-1")?.commissionBasisPoints == 2_000)
        #expect(live.creditLine(payerID: "user-1")?.limits["CNY"] == 10_000_000)
        #expect(live.fxRate(base: "USD", quote: "CNY")?.rate == "7.8")
        // Shape-only data (the tools') takes what the bounds refuse.
        let unbounded = LiveReferenceData(topics: topics)
        try unbounded.apply(ReferenceEntry(topic: topics.merchants, key: "m-1", value: Data(merchant(#","commission_basis_points":9000"#).utf8),
                                           partition: 0, offset: 0))
        #expect(unbounded.merchant("m-1")?.commissionBasisPoints == 9_000)
    }
}
