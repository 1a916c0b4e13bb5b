import Foundation
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaystreamRuntime
import PaystreamTesting
import Testing

@Suite("Fuzzed input on every input topic")
struct FuzzTests {
    @Test("every hostile record is answered by an event or a dead letter, exactly one of the two; no stage stops")
    func hostileInput() async throws {
        let seed = ProcessInfo.processInfo.environment["PAYSTREAM_FUZZ_SEED"].flatMap(UInt64.init) ?? 20_261_129
        let pipeline = try await InProcessPipeline(partitions: 3)
        let topics = pipeline.topics
        try pipeline.start(InProcessPipeline.Component.allCases)
        var fuzz = FuzzInput(seed: seed)
        // Everything a stage consumes (payouts.confirmations included) gets hostile records,
        // from a producer with librdkafka's default partitioner: many are forwarded first.
        var published: [(record: FuzzInput.Record, at: DeliveryReport)] = []
        // channel.notifications is channel-gateway's alone (not in this pipeline): its hostile
        // records are ChannelGatewayTests'.
        for topic in topics.inputTopics where topic != topics.payoutRequests && topic != topics.channelNotifications {
            let records = fuzz.records(for: topic, topics: topics, count: topic == topics.paymentRequests ? 60 : 15)
            let reports = try await pipeline.publish(topic: topic, records.map { ($0.key, $0.value) }, partitioning: .librdkafkaDefault)
            published += zip(records, reports).map { ($0, $1) }
        }
        // Then one ordinary payment: it must still go all the way through.
        try await pipeline.publish(topic: topics.paymentRequests, [("user-1", Data("""
            {"schema":"payment-request/v1","type":"payment","request_id":"after-fuzz","payer_id":"user-1","merchant_id":"m-1",
             "amount":4200,"currency":"CNY","method":"card","channel":"bank_card"}
            """.utf8))])

        let watched = [topics.paymentEvents, topics.notifications] + topics.inputTopics.map(topics.deadLetter(of:))
        let reader = try await pipeline.reader(watched)
        func answers(_ records: [ConsumedRecord]) -> (letters: [DeadLetterMessage], events: [PaymentEvent]) {
            (records.filter { $0.topic.hasSuffix(".dlq") }.compactMap { try? Wire.decode(DeadLetterMessage.self, from: Data($0.value)) },
             records.filter { $0.topic == topics.paymentEvents }.compactMap { try? Wire.decode(PaymentEvent.self, from: Data($0.value)) })
        }
        func requestID(of record: FuzzInput.Record) -> String? {
            (try? JSONSerialization.jsonObject(with: record.value) as? [String: Any])?["request_id"] as? String
        }
        // payments.events is read by two stages (the notifier and the reconciler): each parks what it cannot decide.
        func readers(_ topic: String) -> Int { topic == topics.paymentEvents ? 2 : 1 }
        func answered(_ entry: (record: FuzzInput.Record, at: DeliveryReport), _ a: (letters: [DeadLetterMessage], events: [PaymentEvent])) -> Int {
            let parked = a.letters.filter {
                $0.sourceTopic == entry.record.topic && $0.sourcePartition == entry.at.partition && $0.sourceOffset == entry.at.offset
            }
            // Parked counts once every stage that reads the topic parked it; a stage parking it twice is one too many.
            let stages = Set(parked.map { $0.stage ?? "" })
            let letters = (stages.count == readers(entry.record.topic) ? 1 : 0) + parked.count - stages.count
            guard entry.record.topic == topics.paymentRequests else { return letters }
            let byCoordinates = "rj:\(entry.record.topic):\(entry.at.partition):\(entry.at.offset)"
            let id = requestID(of: entry.record)
            let named = a.events.contains { $0.eventId == byCoordinates || (id != nil && $0.requestId == id) }
            return letters + (named ? 1 : 0)
        }
        var records = try await reader.read(timeout: .seconds(120)) { records in
            let a = answers(records)
            return published.allSatisfy { answered($0, a) >= 1 }
                && records.contains { $0.topic == topics.notifications
                    && (try? Wire.decode(NotificationMessage.self, from: Data($0.value)))?.paymentId == "pay-after-fuzz" }
        }
        records += try await reader.readFor(.milliseconds(700))
        await reader.close()
        await pipeline.stop()

        let a = answers(records)
        for entry in published {
            #expect(answered(entry, a) == 1, "\(entry.record.topic) \(entry.record.kind) at \(entry.at.partition)/\(entry.at.offset)")
        }
        // Dead letters carry the record's bytes exactly (or, for one too large, its first 64 KiB).
        for entry in published {
            if let letter = a.letters.first(where: { $0.sourceTopic == entry.record.topic && $0.sourceOffset == entry.at.offset
                                                      && $0.sourcePartition == entry.at.partition }) {
                if let size = letter.originalValueBytes {
                    // Over input.max_record_bytes: the letter keeps the first 64 KiB and the size.
                    #expect(letter.errorCode == "record_too_large" && size == entry.record.value.count)
                    #expect(Data(base64Encoded: letter.originalValueBase64) == entry.record.value.prefix(DeadLetterMessage.cutValueBytes))
                } else {
                    #expect(Data(base64Encoded: letter.originalValueBase64) == entry.record.value)
                }
                #expect(letter.errorCode != "stage_error", "\(entry.record.kind): \(letter.errorMessage)")
            }
        }
        #expect(a.events.contains { $0.paymentId == "pay-after-fuzz" && $0.type == "payment.captured" })
        #expect(try ShardInspection.paymentProblems(stateDirectory: pipeline.stateDirectory) == [])
        let kinds = Dictionary(grouping: published, by: \.record.kind).mapValues(\.count)
        print("fuzz (seed \(seed)): \(published.count) records \(kinds.sorted { $0.key < $1.key }); \(a.letters.count) dead letters by code \(Dictionary(grouping: a.letters, by: \.errorCode).mapValues(\.count).sorted { $0.key < $1.key })")
    }
}
