import Foundation
import GRDB
@testable import PaystreamAdmin
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaystreamRuntime
import PaymentWorker
import PaystreamStore
import PaystreamTesting
import Testing

/// `paystream dlq list|show|replay` and `paystream show payment`, run as processes against the
/// broker and the state directory of a payment-worker running in-process.
@Suite("paystream dlq and show payment")
struct DlqCommandTests {
    /// Runs the paystream CLI to its end against the harness's broker; its exit status and output.
    static func paystream(_ arguments: [String], _ h: BrokerPaymentHarness) async throws -> (status: Int32, output: String) {
        let process = try DaemonProcess("paystream", arguments: arguments,
                                        environment: ["PAYSTREAM_BROKERS": h.pipeline.broker.bootstrapServers],
                                        logDirectory: try temporaryDirectory("paystream-cli"))
        let status = try #require(await process.waitForExit(timeout: .seconds(60)), "paystream \(arguments) did not finish")
        return (status, process.log)
    }

    static func id(_ record: ConsumedRecord) -> String { "\(record.topic):\(record.partition):\(record.offset)" }

    static func confirmation(_ payment: String, id: String, amount: Int64 = 1000) throws -> Data {
        try Wire.encode(ChannelConfirmation(
            confirmationId: id, channelRequestId: "\(payment):authorize", paymentId: payment, status: "approved",
            amount: amount, currency: "CNY", channelReference: "ref-\(payment)", confirmedAt: "2026-11-24T10:00:01.000Z"))
    }

    @Test("dlq list shows a garbage request and a confirmation for an unknown payment with their codes; dlq show prints the original bytes")
    func listAndShow() async throws {
        let h = try await BrokerPaymentHarness()
        let garbage = Data([0xff, 0xfe, 0x00, 0x2a])
        let answer = try Self.confirmation("pay-ghost", id: "c-ghost")
        try await h.pipeline.publish(topic: h.topics.paymentRequests, [("user-1", garbage)])
        try await h.pipeline.publish(topic: h.topics.channelConfirmations, [("user-1", answer)], sealedBy: "card")
        try await h.waitForRecords { $0.filter { $0.topic.hasSuffix(".dlq") }.count >= 2 }
        let letters = h.records.filter { $0.topic.hasSuffix(".dlq") }
        let byCode = Dictionary(uniqueKeysWithValues: try letters.map {
            (try Wire.decode(DeadLetterMessage.self, from: Data($0.value)).errorCode, $0)
        })
        #expect(Set(byCode.keys) == ["undecodable", "unknown_payment"])
        let garbageID = Self.id(try #require(byCode["undecodable"]))
        let answerID = Self.id(try #require(byCode["unknown_payment"]))
        #expect(garbageID.hasPrefix("payments.requests.dlq:") && answerID.hasPrefix("channel.confirmations.dlq:"))

        let list = try await Self.paystream(["dlq", "list"], h)
        #expect(list.status == 0, "\(list.output)")
        let lines = list.output.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.hasPrefix(garbageID + " ") && $0.contains("undecodable") && $0.contains("payments.requests:") && $0.contains("user-1") })
        #expect(lines.contains { $0.hasPrefix(answerID + " ") && $0.contains("unknown_payment") && $0.contains("channel.confirmations:")
            && $0.contains("confirmation for unknown payment pay-ghost") })
        #expect(lines.last == "2 dead letter(s): 1 undecodable, 1 unknown_payment", "\(list.output)")

        let json = try await Self.paystream(["dlq", "list", "--json", "--topic", "channel.confirmations"], h)
        #expect(json.status == 0, "\(json.output)")
        let objects = json.output.split(separator: "\n").filter { $0.hasPrefix("{") }
            .compactMap { try? JSONDecoder().decode([String: JSONValue].self, from: Data($0.utf8)) }
        #expect(objects.count == 1)
        #expect(objects.first?["id"]?.stringValue == answerID)
        #expect(objects.first?["error_code"]?.stringValue == "unknown_payment")
        #expect(objects.first?["source_topic"]?.stringValue == "channel.confirmations")
        #expect(objects.first?["original_key"]?.stringValue == "user-1")
        #expect(json.output.contains("1 dead letter(s): 1 unknown_payment"))

        let showGarbage = try await Self.paystream(["dlq", "show", garbageID], h)
        #expect(showGarbage.status == 0, "\(showGarbage.output)")
        #expect(showGarbage.output.contains("error code:     undecodable"))
        #expect(showGarbage.output.contains("original value: 4 bytes"))
        #expect(showGarbage.output.contains("not UTF-8; hex:\n    ff fe 00 2a"), "\(showGarbage.output)")
        #expect(showGarbage.output.contains("base64: \(garbage.base64EncodedString())"))

        let showAnswer = try await Self.paystream(["dlq", "show", answerID], h)
        #expect(showAnswer.status == 0, "\(showAnswer.output)")
        #expect(showAnswer.output.contains("as UTF-8 text:\n    \(String(decoding: answer, as: UTF8.self))"), "\(showAnswer.output)")
        #expect(showAnswer.output.contains("original key:   user-1"))
        #expect(showAnswer.output.contains("publishes it to channel.confirmations"))

        let missing = try await Self.paystream(["dlq", "show", "channel.confirmations.dlq:0:999"], h)
        #expect(missing.status == 1 && missing.output.contains("no dead letter at channel.confirmations.dlq:0:999"), "\(missing.output)")
        try await h.finish()
    }

    @Test("a confirmation parked as unknown_payment is replayed once its payment exists: captured and handed to settlement once, however often it is replayed")
    func replay() async throws {
        let h = try await BrokerPaymentHarness()
        // The channel's answer arrives before the request it answers: parked.
        // Sealed by the card connector: the letter keeps the seal and the replay sends it back.
        try await h.pipeline.publish(topic: h.topics.channelConfirmations, [("user-1", try Self.confirmation("pay-r-1", id: "c-r-1"))],
                                     sealedBy: "card")
        try await h.waitForRecords { $0.contains { $0.topic.hasSuffix(".dlq") } }
        let letterID = Self.id(try #require(h.records.first { $0.topic.hasSuffix(".dlq") }))
        try await h.send(BrokerPaymentHarness.request("r-1"))
        #expect(try await h.outcome(of: "r-1").status == "authorized")

        // Choosing by topic alone needs --all; a dry run publishes nothing.
        let unsure = try await Self.paystream(["dlq", "replay", "--topic", "channel.confirmations"], h)
        #expect(unsure.status != 0 && unsure.output.contains("--all"), "\(unsure.output)")
        let dry = try await Self.paystream(["dlq", "replay", "--code", "unknown_payment", "--dry-run"], h)
        #expect(dry.status == 0 && dry.output.contains("would replay \(letterID) (unknown_payment"), "\(dry.output)")

        let first = try await Self.paystream(["dlq", "replay", letterID], h)
        #expect(first.status == 0, "\(first.output)")
        #expect(first.output.contains("replayed \(letterID) (unknown_payment, from channel.confirmations:"), "\(first.output)")
        #expect(first.output.contains("replayed 1 of 1 dead letter(s)"))
        try await h.event("payment.captured", of: "pay-r-1")
        try await h.waitForCounts(settlement: 1)

        let second = try await Self.paystream(["dlq", "replay", "--topic", "channel.confirmations", "--all"], h)
        #expect(second.status == 0, "\(second.output)")
        // Wait until the worker has consumed the second replay, then look for any second effect.
        let landed = try #require(second.output.firstMatch(of: /at partition (\d+) offset (\d+)/), "\(second.output)")
        let partition = Int32(landed.1)!, offset = Int64(landed.2)!
        let deadline = ContinuousClock.now + .seconds(30)
        func consumed() throws -> Int64 {
            try ShardInspection.read(stateDirectory: h.pipeline.stateDirectory, stage: "payment-worker") {
                try RuntimeTables.nextOffsets($0)[h.topics.channelConfirmations]?[partition] ?? 0
            }.max() ?? 0
        }
        while try consumed() <= offset, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(try consumed() > offset, "the worker consumed the second replay")
        try await h.settle()

        #expect(h.events(of: "pay-r-1").map(\.type) == ["payment.authorized", "payment.captured"])
        #expect(h.settlementRequests.filter { $0.paymentId == "pay-r-1" }.count == 1)
        #expect(h.deadLetters.count == 1, "neither replay was parked again")
        let marked = try ShardInspection.read(stateDirectory: h.pipeline.stateDirectory, stage: "payment-worker") {
            try RuntimeTables.isProcessed($0, messageID: "replay:\(letterID)")
        }
        #expect(marked.filter { $0 }.count == 1, "the replay is marked in the payer's shard")
        #expect(try ShardInspection.payments(stateDirectory: h.pipeline.stateDirectory).map(\.status) == [.captured])
        try await h.finish()
    }

    @Test("show payment prints a captured payment's row, its published events, hold, postings and settlement, and a rejected one's rejection; exit 1 for another payer or an unknown id")
    func showPayment() async throws {
        let h = try await BrokerPaymentHarness()
        try h.pipeline.start([.settlementWorker], clock: h.clock)
        try await h.send(BrokerPaymentHarness.request("s-1", amount: 4_200))
        try await h.outcome(of: "s-1")
        try await h.confirm("pay-s-1", amount: 4_200)
        try await h.event("payment.captured", of: "pay-s-1")
        try await h.send(BrokerPaymentHarness.request("rej-1", currency: "RMB"))
        let rejection = try await h.outcome(of: "rej-1")
        let directory = h.pipeline.stateDirectory
        let deadline = ContinuousClock.now + .seconds(30)
        func settlement() throws -> Row? {
            try ShardInspection.read(stateDirectory: directory, stage: "settlement-worker") { db in
                try db.tableExists("settlement_line") ? try Row.fetchOne(db, sql: """
                    SELECT l.*, (SELECT booked FROM settlement_part p WHERE p.payer_id = l.payer_id AND p.payment_id = l.payment_id
                                 AND p.kind = 'fee') AS fee,
                                (SELECT booked FROM settlement_part p WHERE p.payer_id = l.payer_id AND p.payment_id = l.payment_id
                                 AND p.kind = 'merchant') AS net
                    FROM settlement_line l WHERE l.payment_id = 'pay-s-1'
                    """) : nil
            }.compactMap { $0 }.first
        }
        while try settlement() == nil, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        let booked = try #require(try settlement(), "settlement-worker booked the payment")
        try await h.finish()

        let show = try await Self.paystream(["show", "payment", "user-1", "pay-s-1", "--state-dir", directory], h)
        #expect(show.status == 0, "\(show.output)")
        let text = show.output
        func yuan(_ minor: Int64) -> String { Money(minorUnits: minor, currency: Currency.named("CNY")!).formatted }
        let amount = yuan(4_200)
        #expect(text.contains("payment pay-s-1 of payer user-1"))
        #expect(text.contains("status:      captured"))
        #expect(text.contains("amount:      \(amount) by card on bank_card"))
        for event in h.events(of: "pay-s-1") {
            #expect(text.contains("\(event.eventId)  \(h.topics.paymentEvents)  #\(event.sequence) \(event.type)"), "\(event.eventId) in\n\(text)")
        }
        #expect(h.events(of: "pay-s-1").count == 2)
        #expect(text.contains("cr:pay-s-1:authorize  channel.requests  authorize \(amount)  sent"))
        #expect(text.contains("sr:user-1:pay-s-1:capture  settlement.requests  capture \(amount)  sent"))
        #expect(text.contains("auth:pay-s-1  on channel:card:CNY  \(amount)  posted \(amount) by capture:pay-s-1"), "\(text)")
        #expect(text.contains("  capture:pay-s-1  "))
        #expect(text.contains("debit   channel:card:CNY  \(amount)") && text.contains("credit  settlement:CNY  \(amount)"), "\(text)")
        let fee: Int64 = booked["fee"], net: Int64 = booked["net"]
        #expect(fee + net == 4_200)
        #expect(text.contains("amount \(amount), fee \(yuan(fee)), net \(yuan(net))"), "\(text)")
        #expect(text.contains("  booking:user-1:pay-s-1  "))
        #expect(text.contains("credit  merchant_pending:m-1:CNY  \(yuan(net))"), "\(text)")
        #expect(text.contains("merchant m-1: booked \(yuan(net))"), "\(text)")

        // A payment never stored: its rejection is what there is to show.
        let refused = try await Self.paystream(["show", "payment", "user-1", rejection.paymentId, "--state-dir", directory], h)
        #expect(refused.status == 0, "\(refused.output)")
        #expect(refused.output.contains("no payment stored; every request for it was rejected"))
        #expect(refused.output.contains("\(rejection.eventId)  \(h.topics.paymentEvents)  #0 payment.rejected (\(rejection.reason ?? "?"))"),
                "\(refused.output)")
        #expect(rejection.type == "payment.rejected")

        let otherPayer = try await Self.paystream(["show", "payment", "user-2", "pay-s-1", "--state-dir", directory], h)
        #expect(otherPayer.status == 1)
        #expect(otherPayer.output.contains("payer user-2 has no payment pay-s-1") && otherPayer.output.contains("belongs to payer user-1"),
                "\(otherPayer.output)")
        let unknown = try await Self.paystream(["show", "payment", "user-1", "pay-nope", "--state-dir", directory], h)
        #expect(unknown.status == 1 && unknown.output.contains("payer user-1 has no payment pay-nope"), "\(unknown.output)")
    }
}

/// What `paystream dlq replay` makes of a dead letter, as plain values (no broker).
@Suite("dlq replay plans")
struct DeadLetterReplayPlanTests {
    let names = TopicNames()
    let counts: [String: Int32] = ["payments.requests": 4, "payments.events": 4, "channel.confirmations": 4]

    func record(_ letter: DeadLetterMessage, topic: String = "payments.requests.dlq", partition: Int32 = 2, offset: Int64 = 5,
                eventID: String? = nil) throws -> ConsumedRecord {
        ConsumedRecord(topic: topic, partition: partition, offset: offset, key: letter.originalKey.map { Array($0.utf8) },
                       value: Array(try Wire.encode(letter)),
                       headers: [KafkaHeader(key: "event-id", string: eventID ?? "dlq:\(letter.sourceTopic):\(letter.sourcePartition):\(letter.sourceOffset)")])
    }

    func letter(_ code: String, source: String = "payments.requests", partition: Int32 = 2, key: String? = "user-1",
                value: String = "{}", message: String = "m") -> DeadLetterMessage {
        DeadLetterMessage(errorCode: code, errorMessage: message, sourceTopic: source, sourcePartition: partition, sourceOffset: 9,
                          originalKey: key, originalValueBase64: Data(value.utf8).base64EncodedString(),
                          failedAt: "2026-11-24T10:00:00.000Z")
    }

    func plan(_ record: ConsumedRecord, force: Bool = false) throws -> Result<DeadLetterReplay, DeadLetterReplay.Refusal> {
        let entry = try #require(DeadLetterLog(records: [record]).entries.first)
        return DeadLetterReplay.plan(entry, names: names, partitionCounts: counts, force: force)
    }

    @Test("a keyed dead letter goes back to its source topic with its key, its bytes and the replay header; the partitioner places it")
    func keyed() throws {
        let replay = try plan(try record(letter("undecodable", value: "abc"))).get()
        #expect(replay.message.topic == "payments.requests")
        #expect(replay.message.key == Array("user-1".utf8))
        #expect(replay.message.value == Array("abc".utf8))
        #expect(replay.message.partition == nil)
        #expect(replay.message.headers == [KafkaHeader(key: "paystream-replay-of", string: "payments.requests.dlq:2:5")])
    }

    @Test("without a key it is pinned to its source partition, so every replay reaches the same shard")
    func keyless() throws {
        let replay = try plan(try record(letter("undecodable", partition: 3, key: nil))).get()
        #expect(replay.message.partition == 3 && replay.message.key == nil)
        #expect(replay.notes.contains { $0.contains("partition 3") })
    }

    @Test("a dead letter naming another topic than its own input is refused: a reference topic, another input, a dead-letter topic")
    func onlyItsOwnInput() throws {
        for source in ["reference.credit-lines", "reference.merchants", "channel.confirmations", "payouts.confirmations.repartition",
                       "payments.requests.dlq"] {
            guard case .failure(let refusal) = try plan(try record(letter("undecodable", source: source))) else {
                Issue.record("replayed a letter on payments.requests.dlq to \(source)"); continue
            }
            #expect(refusal.reason.contains("replayed only to its own input"), "\(source): \(refusal.reason)")
        }
        // Its own input, and that input's repartition topic, are fine.
        #expect(try plan(try record(letter("undecodable", source: "payments.requests"))).get().message.topic == "payments.requests")
        #expect(try plan(try record(letter("misrouted", source: "payments.requests.repartition"))).get().message.topic == "payments.requests")
    }

    @Test("a record_too_large letter (its value cut, original_value_bytes set) is never replayed, even with --force")
    func cutValue() throws {
        var cut = letter("record_too_large", value: String(repeating: "v", count: 100))
        cut.originalValueBytes = 300_000
        for force in [false, true] {
            guard case .failure(let refusal) = try plan(try record(cut), force: force) else { Issue.record("a cut value was replayed"); return }
            #expect(refusal.reason.contains("cannot be replayed") && refusal.reason.contains("input.max_record_bytes"), "\(refusal.reason)")
        }
    }

    @Test("a misrouted copy from a repartition topic is replayed to the input topic it serves")
    func repartition() throws {
        let replay = try plan(try record(letter("misrouted", source: "payments.requests.repartition"))).get()
        #expect(replay.message.topic == "payments.requests")
        #expect(replay.notes.contains { $0.contains("replayed to payments.requests") })
    }

    @Test("refused_by_broker needs --force, then keeps its event id; a value cut to 64 KiB is never replayed")
    func refused() throws {
        let refused = letter("refused_by_broker", source: "payments.events", message: "outbox event pe:pay-1:2: Broker: Message size too large")
        let record = try record(refused, topic: "payments.events.dlq", eventID: "dlq:outbox:pe:pay-1:2")
        guard case .failure(let refusal) = try plan(record) else { Issue.record("replayed without --force"); return }
        #expect(refusal.reason.contains("--force"))
        let forced = try plan(record, force: true).get()
        #expect(forced.message.topic == "payments.events")
        #expect(forced.message.headers.contains(KafkaHeader(key: "event-id", string: "pe:pay-1:2")))
        let cut = letter("refused_by_broker", source: "payments.events",
                         message: "outbox event pe:pay-1:3: too large (value cut to its first 65536 of 90000 bytes)")
        guard case .failure(let never) = try plan(try self.record(cut, topic: "payments.events.dlq"), force: true) else {
            Issue.record("a cut value was replayed"); return
        }
        #expect(never.reason.contains("64 KiB"))
    }

    @Test("a dead letter published twice (same event-id) is one entry; the copy's id leads to the first")
    func copies() throws {
        let first = try record(letter("undecodable"), offset: 5)
        let again = try record(letter("undecodable"), offset: 8)
        let log = DeadLetterLog(records: [again, first])
        #expect(log.entries.map(\.id.description) == ["payments.requests.dlq:2:5"])
        #expect(log.entry(DeadLetterID("payments.requests.dlq:2:8")!)?.id.description == "payments.requests.dlq:2:5")
        #expect(DeadLetterLog.summary(log.entries, copies: log.copies.count) == "1 dead letter(s): 1 undecodable (1 republished copies not shown)")
    }
}
