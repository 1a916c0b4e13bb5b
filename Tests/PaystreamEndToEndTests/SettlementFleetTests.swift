import Foundation
import GRDB
import PaystreamAdmin
import PaystreamDomain
import PaystreamKafka
import PaystreamLedger
import PaystreamStore
import PaystreamTesting
import SettlementWorker
import Testing

/// One payment of each settlement mode through the workers and a real broker, with a refund,
/// a repayment naming its installment payment and one naming none; then money is conserved
/// across the stages (`paystream verify`'s check), each stage's ledger is sound, and hledger
/// accepts both sides' export with the ledger's balances.
@Suite("End to end: settlement of every mode")
struct SettlementFleetTests {
    static func request(_ id: String, type: String = "payment", payer: String, merchant: String? = nil, amount: Int64,
                        currency: String = "CNY", method: String = "card", channel: String = "bank_card", mode: String = "prepaid",
                        installments: Int? = nil, paymentID: String? = nil, extra: [String: Any] = [:]) -> (key: String, value: Data) {
        var body: [String: Any] = ["schema": "payment-request/v1", "type": type, "request_id": id, "payer_id": payer, "amount": amount,
                                   "currency": currency, "method": method, "channel": channel]
        if let merchant { body["merchant_id"] = merchant }
        if let paymentID { body["payment_id"] = paymentID }
        if type == "payment" {
            var settlement: [String: Any] = ["mode": mode]
            if let installments { settlement["installments"] = installments }
            body["settlement"] = settlement
        }
        body.merge(extra) { _, new in new }
        return (payer, try! JSONSerialization.data(withJSONObject: body))
    }

    @Test("prepaid, post-paid, installments and FX through the pipeline: booked, refunded, repaid; verify and hledger agree")
    func everyMode() async throws {
        let pipeline = try await InProcessPipeline(partitions: 4)
        let topics = pipeline.topics
        try pipeline.start()
        try await pipeline.publish(topic: topics.paymentRequests, [
            Self.request("pre-1", payer: "user-1", merchant: "m-1", amount: 10_000,
                         extra: ["splits": [["party_id": "supplier-1", "amount": 1_000]]]),
            Self.request("post-1", payer: "credit-user", merchant: "m-2", amount: 20_000, method: "alipay", channel: "mobile", mode: "postpaid"),
            Self.request("inst-1", payer: "credit-user", merchant: "m-3", amount: 9_000, method: "alipay", channel: "mobile",
                         mode: "installments", installments: 3),
            Self.request("fx-1", payer: "user-2", merchant: "m-4", amount: 1_000, currency: "USD"),
        ])
        let reader = try await pipeline.reader([topics.paymentEvents, topics.settlementEvents]
                                               + topics.inputTopics.map(topics.deadLetter(of:)))
        var records = try await reader.read(timeout: .seconds(60)) { records in
            records.filter { $0.topic == topics.settlementEvents }.count >= 5
        }
        try await pipeline.publish(topic: topics.paymentRequests, [
            Self.request("pre-1-refund", type: "refund", payer: "user-1", amount: 4_000, paymentID: "pay-pre-1"),
            Self.request("repay-1", type: "repayment", payer: "credit-user", amount: 3_000, method: "online_banking",
                         channel: "online_banking", extra: ["repays_payment_id": "pay-inst-1"]),
            Self.request("repay-2", type: "repayment", payer: "credit-user", amount: 5_000, method: "online_banking",
                         channel: "online_banking"),
        ])
        records += try await reader.read(timeout: .seconds(60)) { records in
            records.filter { $0.topic == topics.settlementEvents }.count >= 3
        }
        records += try await reader.readFor(.milliseconds(500))
        await reader.close()
        await pipeline.stop()

        #expect(records.filter { $0.topic.hasSuffix(".dlq") }.isEmpty)
        let events = try records.filter { $0.topic == topics.settlementEvents }.map { try Wire.decode(SettlementEvent.self, from: Data($0.value)) }
        func of(_ payment: String) -> [String] { events.filter { $0.paymentId == payment }.map(\.type) }
        #expect(of("pay-pre-1") == ["settlement.booked", "settlement.refunded"])
        #expect(of("pay-post-1") == ["settlement.booked", "settlement.repaid"])
        #expect(of("pay-inst-1") == ["settlement.booked", "installment.scheduled", "installment.paid"])
        #expect(of("pay-fx-1") == ["settlement.booked"])
        let booked = Dictionary(uniqueKeysWithValues: events.filter { $0.type == "settlement.booked" }.map { ($0.paymentId, $0) })
        #expect(booked["pay-pre-1"].map { [$0.fee, $0.net] } == [60, 8_940])
        // $10.00 less the 0.6 % fee is $9.94; at 7.1 that is ¥70.574 → 7,057 fen (half even).
        #expect(booked["pay-fx-1"]?.fx?.rate == "7.1" && booked["pay-fx-1"]?.netSettled == 7_057)
        #expect(events.first { $0.type == "settlement.repaid" }?.outstanding == 15_000)
        #expect(events.first { $0.type == "installment.paid" }?.installment?.number == 1)

        let directory = pipeline.stateDirectory
        #expect(try CrossStageCheck.problems(stateDirectory: directory) == [])
        #expect(try ShardInspection.paymentProblems(stateDirectory: directory) == [])
        #expect(try ShardInspection.read(stateDirectory: directory, stage: "settlement-worker") { try SettlementAudit.problems($0) }
                    .flatMap { $0 } == [])
        let sides: [HledgerJournal.Side] = [
            .init(name: "payer", ledgers: try ShardInspection.read(stateDirectory: directory, stage: "payment-worker") { try LedgerTables.loadAll($0) }),
            .init(name: "merchant", ledgers: try ShardInspection.read(stateDirectory: directory, stage: "settlement-worker") {
                try LedgerTables.loadAll($0)
            }),
        ]
        #expect(try HledgerCheck.problems(sides) == [])

        // The CLI writes the same journal, and hledger accepts it.
        let file = "\(try temporaryDirectory("paystream-export"))/all.journal"
        let export = try DaemonProcess("paystream", arguments: ["ledger", "export", "--format", "hledger", "--state-dir", directory, "-o", file],
                                       environment: [:], logDirectory: try temporaryDirectory("paystream-cli"))
        #expect(try #require(await export.waitForExit(timeout: .seconds(60))) == 0, "\(export.log)")
        #expect(export.log.contains("exported") && export.log.contains("payer: 4 shards, merchant: 4 shards"), "\(export.log)")
        #expect(try HledgerCheck.run(["-f", file, "check", "-s", "ordereddates"]).status == 0)
    }
}
