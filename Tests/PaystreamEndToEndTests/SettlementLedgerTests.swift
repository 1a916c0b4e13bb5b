import Foundation
import GRDB
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaystreamLedger
import PaystreamReference
import PaystreamRuntime
import PaystreamStore
import PaystreamTesting
import SettlementWorker
import Testing

/// The settlement stage books on the domain `Ledger`, persisted by `PaystreamLedger` like the
/// payer side; on the stage harness.
@Suite("settlement-worker: the merchant-side ledger")
struct SettlementLedgerTests {
    static func request(_ type: SettlementRequestType, payment: String, amount: Int64, refund: String = "",
                        currency: String = "CNY", settlementCurrency: String? = nil, splits: [Split] = []) -> Data {
        let id = type == .capture ? MessageID.settlementCapture(payer: "user-1", payment: payment)
            : MessageID.settlementRefund(payer: "user-1", payment: payment, refundRequest: refund)
        return try! Wire.encode(SettlementRequest(
            eventId: id, type: type.rawValue, paymentId: payment, orderId: nil, payerId: "user-1", merchantId: "m-1", amount: amount,
            currency: currency, method: "card", settlement: SettlementTerms(mode: "prepaid"), splits: splits, settlementCurrency: settlementCurrency,
            capturedAt: "2026-11-30T00:00:00.000Z", sourceEventId: "pe:user-1:\(payment):2"))
    }

    @Test("a capture and a refund are postings on accounts per currency with stored balances; the ledger's invariants hold")
    func bookings() throws {
        let merchant = MerchantReference(merchantId: "m-1", status: .active, settlementCurrency: "CNY", defaultFee: .init(basisPoints: 60),
                                         suppliers: ["supplier-1"])
        let h = try StageHarness(SettlementStage(topics: TopicNames(), settings: try .init(),
                                                 reference: StaticReferenceData(merchants: [merchant]), answers: TestAnswerKeys.settlement), partitions: 1)
        try h.send(topic: h.topics.settlementRequests, [
            ("m-1", Self.request(.capture, payment: "p-1", amount: 10_000, splits: [Split(partyId: "supplier-1", amount: 1_000)])),
            ("m-1", Self.request(.capture, payment: "p-2", amount: 500, currency: "USD", settlementCurrency: "USD")),
            ("m-1", Self.request(.refund, payment: "p-1", amount: 2_000, refund: "rf-1")),
        ])
        #expect(h.deadLetters.isEmpty, "\(h.deadLetters.map { $0.errorMessage })")
        let balances = try h.read { db in
            try Row.fetchAll(db, sql: "SELECT account_id, posted, normal_side FROM ledger_account ORDER BY account_id").map {
                "\($0["account_id"] as String) \($0["normal_side"] as String) \($0["posted"] as Int64)"
            }
        }.flatMap { $0 }
        // The refund of 2,000 of 10,000 takes a fifth of each part: 12 of the fee, 200 of the split, 1,788 of the net.
        #expect(balances == [
            "clearing:card:CNY debit 8000", "clearing:card:USD debit 500", "fee_revenue:CNY credit 48", "fee_revenue:USD credit 3",
            "merchant_pending:m-1:CNY credit 7152", "merchant_pending:m-1:USD credit 497", "supplier_pending:supplier-1:CNY credit 800",
        ])
        #expect(try h.read { try LedgerTables.verify($0) }.flatMap { $0 }.isEmpty)
        #expect(h.decoded(SettlementEvent.self, on: h.topics.settlementEvents).map { $0.net } == [8_940, 497, 1_788])
    }

    @Test("a shard made before the domain ledger is migrated: old entries become postings on per-currency accounts with balances")
    func migration() throws {
        let directory = try temporaryDirectory()
        let path = ShardStore.path(stateDirectory: directory, stage: "settlement-worker", partition: 0)
        let old = StageSchema(Array(SettlementTables.schema.migrations.prefix(2)))
        // As a version before the changelog opened it.
        let before = try ShardStore(path: path, partition: 0, synchronous: .full, schema: old, capture: false)
        try before.write { db in
            for (posting, account, currency, amount) in [
                ("booking:user-1:p-1", "clearing:card", "CNY", Int64(10_000)), ("booking:user-1:p-1", "merchant_payable:m-1", "CNY", -9_940),
                ("booking:user-1:p-1", "fee_revenue", "CNY", -60), ("refund:sr:user-1:p-1:refund:r", "merchant_payable:m-1", "CNY", 1_000),
                ("refund:sr:user-1:p-1:refund:r", "clearing:card", "CNY", -1_000), ("booking:user-2:p-9", "clearing:alipay", "USD", 300),
                ("booking:user-2:p-9", "merchant_payable:m-1", "USD", -300),
            ] {
                try db.execute(sql: "INSERT INTO ledger_entry (posting_id, account, currency, amount, posted_at) VALUES (?, ?, ?, ?, ?)",
                               arguments: [posting, account, currency, amount, "2026-11-29T00:00:00.000Z"])
            }
        }
        try before.close()
        let after = try ShardStore(path: path, partition: 0, synchronous: .full, schema: SettlementTables.schema)
        let (violations, balances, postings) = try after.read { db in
            (try LedgerTables.verify(db),
             try Dictionary(uniqueKeysWithValues: ["clearing:card:CNY", "merchant_payable:m-1:CNY", "fee_revenue:CNY", "merchant_payable:m-1:USD"]
                .map { ($0, try LedgerTables.balance(db, of: AccountID($0))?.posted.minorUnits) }),
             try String.fetchAll(db, sql: "SELECT posting_id FROM ledger_posting ORDER BY seq"))
        }
        try after.close()
        #expect(violations.isEmpty, "\(violations)")
        #expect(balances == ["clearing:card:CNY": 9_000, "merchant_payable:m-1:CNY": 8_940, "fee_revenue:CNY": 60, "merchant_payable:m-1:USD": 300])
        #expect(postings == ["booking:user-1:p-1", "refund:sr:user-1:p-1:refund:r", "booking:user-2:p-9"])
    }

    @Test("a line booked before the settlement lines existed becomes one (a fee part and a merchant part on merchant_payable); its refund reverses both")
    func legacyLineMigrated() throws {
        let directory = try temporaryDirectory()
        let path = ShardStore.path(stateDirectory: directory, stage: "settlement-worker", partition: 0)
        let old = StageSchema(Array(SettlementTables.schema.migrations.prefix(4)))
        // As a version before the changelog opened it.
        let before = try ShardStore(path: path, partition: 0, synchronous: .full, schema: old, capture: false)
        try before.write { db in
            try db.execute(sql: """
                INSERT INTO settlement (payer_id, payment_id, merchant_id, amount, currency, fee, net, mode, source_event_id, booked_at)
                VALUES ('user-1', 'p-1', 'm-1', 10000, 'CNY', 60, 9940, 'prepaid', 'sr:user-1:p-1:capture', '2026-11-29T00:00:00.000Z');
                INSERT INTO ledger_posting (posting_id, posted_at) VALUES ('booking:user-1:p-1', '2026-11-29T00:00:00.000Z');
                INSERT INTO ledger_entry (posting_id, account_id, currency, amount) VALUES
                    ('booking:user-1:p-1', 'clearing:card:CNY', 'CNY', 10000), ('booking:user-1:p-1', 'fee_revenue:CNY', 'CNY', -60),
                    ('booking:user-1:p-1', 'merchant_payable:m-1:CNY', 'CNY', -9940);
                INSERT INTO ledger_account (account_id, currency, normal_side, floor, posted, pending) VALUES
                    ('clearing:card:CNY', 'CNY', 'debit', NULL, 10000, 0), ('fee_revenue:CNY', 'CNY', 'credit', NULL, 60, 0),
                    ('merchant_payable:m-1:CNY', 'CNY', 'credit', NULL, 9940, 0);
                """)
        }
        try before.close()
        let h = try StageHarness(SettlementStage(topics: TopicNames(), settings: try .init(), reference: StaticReferenceData(), answers: TestAnswerKeys.settlement),
                                 partitions: 1, stateDirectory: directory)
        #expect(try h.read { try SettlementAudit.problems($0) }.flatMap { $0 } == [])
        try h.send(topic: h.topics.settlementRequests, [("m-1", Self.request(.refund, payment: "p-1", amount: 5_000, refund: "r-1"))])
        #expect(h.deadLetters.isEmpty, "\(h.deadLetters.map { $0.errorMessage })")
        let balances = try h.read { db in
            try ["clearing:card:CNY", "fee_revenue:CNY", "merchant_payable:m-1:CNY"].map { try LedgerTables.balance(db, of: AccountID($0))?.posted.minorUnits }
        }.first
        #expect(balances == [5_000, 30, 4_970])
        #expect(try h.read { try SettlementAudit.problems($0) }.flatMap { $0 } == [])
    }

    @Test("FX bookings survive storage: conversions with their snapshots and the rounding carry are read back, the invariants hold")
    func fxRoundTrip() throws {
        let queue = try DatabaseQueue()
        try queue.write { db in
            try LedgerTables.create(db)
            try LedgerTables.createFX(db)
        }
        let cny = Currency.named("CNY")!, usd = Currency.named("USD")!
        let rate = try ExchangeRate(base: cny, quote: usd, rate: "0.14", source: "test", asOf: Date(timeIntervalSince1970: 1_795_000_000))
        let clearing = AccountID("clearing:card:CNY"), merchant = AccountID("merchant_payable:m-1:USD")
        // Three conversions of ¥0.25 at 0.14, half even: each rounds 3.5 cents up, so the carry
        // goes −½, then a whole cent is booked to fx_rounding, then −½ again.
        for n in 1...3 {
            try queue.write { db in
                let before = try LedgerTables.load(db, accounts: [clearing, merchant, .fxPosition(cny), .fxPosition(usd),
                                                                  .fxRounding(usd)], holds: [])
                var ledger = before
                if ledger.accounts[clearing] == nil {
                    try ledger.open(Account(id: clearing, currency: cny, normalSide: .debit))
                    try ledger.open(Account(id: merchant, currency: usd, normalSide: .credit))
                }
                try ledger.postConversion(try rate.convert(Money(minorUnits: 25, currency: cny), rounding: .halfEven),
                                          id: PostingID("fx:\(n)"), debit: clearing, credit: merchant, postedAt: Date())
                try LedgerTables.save(db, from: before, to: ledger)
            }
        }
        let stored = try queue.read { try LedgerTables.loadAll($0) }
        #expect(stored.checkInvariants().isEmpty, "\(stored.checkInvariants())")
        #expect(stored.fxRoundingCarry == ["USD": -500_000_000_000_000_000])
        #expect(stored.postings.map { $0.conversions.count } == [1, 1, 1])
        #expect(stored.postings.first?.conversions.first?.rate.decimalString == "0.14")
        #expect(stored.balance(of: merchant)?.posted.minorUnits == 12)
        #expect(try queue.read { try LedgerTables.load($0, accounts: [], holds: []) }.fxRoundingCarry == stored.fxRoundingCarry)

        // A stored conversion its own snapshot contradicts is reported, not read back as sound.
        try queue.write { try $0.execute(sql: "UPDATE ledger_conversion SET converted_amount = 5 WHERE posting_id = 'fx:2'") }
        #expect(throws: LedgerStorageError.self) { try queue.read { try LedgerTables.loadAll($0) } }
    }

    @Test("the hold table rebuilt with its check as comparisons keeps every row, still refuses an unknown resolution, and needs no temporary b-tree")
    func holdCheckRebuilt() throws {
        let queue = try DatabaseQueue()
        try queue.write { db in
            try LedgerTables.create(db)
            try db.execute(sql: """
                INSERT INTO ledger_hold VALUES ('h-1', 'wallet:u:CNY', 'CNY', 100, NULL, NULL, NULL, NULL);
                INSERT INTO ledger_hold VALUES ('h-2', 'wallet:u:CNY', 'CNY', 200, '2026-11-30T00:00:00.000Z', 'posted', 150, 'p-1');
                """)
            let before = try Row.fetchAll(db, sql: "SELECT * FROM ledger_hold ORDER BY hold_id")
            func opcodes() throws -> [String] {
                try Row.fetchAll(db, sql: """
                    EXPLAIN INSERT INTO ledger_hold (hold_id, account_id, currency, amount, resolution) VALUES ('h-4', 'a', 'CNY', 1, 'expired')
                    """).map { $0["opcode"] as String }
            }
            #expect(try opcodes().contains("OpenEphemeral"))
            try LedgerTables.rebuildHoldCheck(db)
            #expect(try Row.fetchAll(db, sql: "SELECT * FROM ledger_hold ORDER BY hold_id") == before)
            #expect(throws: DatabaseError.self) {
                try db.execute(sql: "INSERT INTO ledger_hold VALUES ('h-3', 'a', 'CNY', 1, NULL, 'lost', NULL, NULL)")
            }
            try db.execute(sql: "UPDATE ledger_hold SET resolution = 'voided' WHERE hold_id = 'h-1'")
            #expect(try !opcodes().contains("OpenEphemeral"))
        }
    }
}
