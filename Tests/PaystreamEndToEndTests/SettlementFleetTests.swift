import Foundation
import GRDB
import PaystreamAdmin
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaystreamLedger
import PaystreamStore
import PaystreamTesting
import ChannelSandbox
import ReconciliationWorker
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

    @Test("payments → settled → batched on the payout date → paid out by the bank, which fails and returns a share → reconciled with the channel's statements (loaded twice); verify and hledger agree")
    func paidOut() async throws {
        let start = Wire.parseTimestamp("2026-11-30T02:00:00.000Z")!  // Monday 10:00 in Shanghai
        let clock = ManualClock(start)
        let pipeline = try await InProcessPipeline(partitions: 2)
        let topics = pipeline.topics
        var sandbox = ChannelSandboxStage.Settings()
        sandbox.bank.failureRate = 0.3
        sandbox.bank.returnRate = 0.3
        sandbox.bank.returnAfterMs = 86_400_000
        try pipeline.start(InProcessPipeline.Component.allCases, sandbox: sandbox, clock: clock)
        var payments: [(key: String, value: Data)] = []
        for index in 0..<24 {
            var extra: [String: Any] = [:]
            if index % 3 == 0 {
                let split: [String: Any] = ["party_id": "supplier-\(1 + index % 3)", "amount": 700]
                extra["splits"] = [split]
            }
            let amount = Int64(5_000 + 137 * index)
            payments.append(Self.request("day-\(index)", payer: "user-\(index % 7)", merchant: "m-\(index % 5)", amount: amount, extra: extra))
        }
        try await pipeline.publish(topic: topics.paymentRequests, payments)
        let reader = try await pipeline.reader([topics.settlementEvents, topics.payoutRequests, topics.payoutConfirmations]
                                               + topics.inputTopics.map(topics.deadLetter(of:)))
        var records: [ConsumedRecord] = []
        func read(_ done: @escaping ([PayoutEvent]) -> Bool) async throws {
            let seen = records
            records += try await reader.read(timeout: .seconds(90)) { new in
                done((seen + new).filter { $0.topic == topics.settlementEvents && Wire.schema(of: Data($0.value)) == PayoutEvent.schemaName }
                    .compactMap { try? Wire.decode(PayoutEvent.self, from: Data($0.value)) })
            }
        }
        let booked = try await reader.read(timeout: .seconds(60)) { new in
            new.filter { $0.topic == topics.settlementEvents }.count >= payments.count
        }
        records += booked
        // Tuesday begins in Shanghai: every payee's batch closes and the bank answers at once.
        clock.advance(by: 14 * 3_600)
        try await read { events in events.filter { $0.type == "batch.closed" }.count >= 8
            && events.filter { ["payout.confirmed", "payout.failed"].contains($0.type) }.count >= events.filter { $0.type == "payout.sent" }.count }
        // Day by day: failed money is paid again the next business day, returned money after its return.
        for _ in 0..<10 {
            clock.advance(by: 86_400)
            try await Task.sleep(for: .milliseconds(1_500))
            records += try await reader.readFor(.milliseconds(300))
        }
        records += try await reader.readFor(.seconds(2))
        await reader.close()

        // Reconciled: the sandbox's statement files of the day, loaded with the CLI, against the
        // captures. Ten days on, every capture was reported missing_in_channel by the timer; its
        // line turns it into matched. Loading the files again changes nothing.
        let statements = "\(pipeline.stateDirectory)/channel-statements"
        let logs = try temporaryDirectory()
        let load = try await ReferenceCommandTests.paystream(["statements", "load", statements], broker: pipeline.broker, directory: logs)
        #expect(load.status == 0, "\(load.output)")
        #expect(load.output.contains("published 24 of 24 lines"), "\(load.output)")
        let results = try await pipeline.reader([topics.reconciliationResults])
        var latest: [String: ReconciliationResultMessage] = [:]
        var seen: [String: Set<String>] = [:]
        func absorb(_ new: [ConsumedRecord]) {
            for record in new {
                guard let result = try? Wire.decode(ReconciliationResultMessage.self, from: Data(record.value)) else { continue }
                seen[result.itemId, default: []].insert(result.state)
                if (latest[result.itemId]?.revision ?? 0) < result.revision { latest[result.itemId] = result }
            }
        }
        absorb(try await results.read(timeout: .seconds(60)) { new in
            absorb(new)
            return latest.values.filter { $0.state == "matched" }.count == payments.count
        })
        let reload = try await ReferenceCommandTests.paystream(["statements", "load", statements], broker: pipeline.broker, directory: logs)
        #expect(reload.status == 0, "\(reload.output)")
        let afterReload = try await results.readFor(.seconds(3))
        await results.close()
        #expect(afterReload.isEmpty, "a reload published \(afterReload.count) results")
        #expect(latest.count == payments.count && latest.values.allSatisfy { $0.state == "matched" && $0.line != nil })
        #expect(seen.values.filter { $0.contains("missing_in_channel") }.count == payments.count,
                "every capture was missing_in_channel before its line came: \(seen)")
        let report = try await ReferenceCommandTests.paystream(["report", "reconciliation", "--date", "2026-11-30",
                                                                "--state-dir", pipeline.stateDirectory], broker: pipeline.broker, directory: logs)
        #expect(report.status == 0 && report.output.contains("matched             24") && report.output.contains("no exceptions"),
                "\(report.output)")
        await pipeline.stop()

        #expect(records.filter { $0.topic.hasSuffix(".dlq") }.isEmpty)
        let events = records.filter { $0.topic == topics.settlementEvents && Wire.schema(of: Data($0.value)) == PayoutEvent.schemaName }
            .compactMap { try? Wire.decode(PayoutEvent.self, from: Data($0.value)) }
        let types = Dictionary(grouping: events, by: \.type).mapValues(\.count)
        #expect((types["payout.failed"] ?? 0) > 0 && (types["payout.returned"] ?? 0) > 0, "\(types)")
        // Every batch's lines sum to it.
        for batch in events where batch.type == "batch.closed" {
            #expect(batch.lines?.reduce(0) { $0 + $1.amount } == batch.amount, "\(batch.batchId)")
        }
        let directory = pipeline.stateDirectory
        #expect(try CrossStageCheck.problems(stateDirectory: directory) == [])
        #expect(try ShardInspection.read(stateDirectory: directory, stage: "settlement-worker") { try SettlementAudit.problems($0) }
                    .flatMap { $0 } == [])
        // In the end every payee is paid in full: nothing available, nothing on its way.
        let left = try ShardInspection.read(stateDirectory: directory, stage: "settlement-worker") { db in
            try Int64.fetchOne(db, sql: """
                SELECT coalesce(sum(posted), 0) FROM ledger_account
                WHERE account_id LIKE 'merchant_available:%' OR account_id LIKE 'supplier_available:%'
                   OR account_id LIKE 'merchant_payout:%' OR account_id LIKE 'supplier_payout:%'
                   OR account_id LIKE 'merchant_pending:%' OR account_id LIKE 'supplier_pending:%'
                """) ?? 0
        }.reduce(0, +)
        #expect(left == 0)
        let sides: [HledgerJournal.Side] = [
            .init(name: "payer", ledgers: try ShardInspection.read(stateDirectory: directory, stage: "payment-worker") { try LedgerTables.loadAll($0) }),
            .init(name: "merchant", ledgers: try ShardInspection.read(stateDirectory: directory, stage: "settlement-worker") {
                try LedgerTables.loadAll($0)
            }),
        ]
        #expect(try HledgerCheck.problems(sides) == [])
    }
}
