import Foundation
import GRDB
import PaystreamDomain
import PaystreamKafka
import PaystreamLedger
import PaystreamRuntime
import PaystreamStore

/// settlement-worker: books captured money for the merchant. Splits the gross with the domain's
/// `SettlementBreakdown` (fee rounded half up, then supplier splits, the remainder to the
/// merchant), posts a balanced entry set to the merchant-side ledger; emits `settlement.booked`.
/// (Modes, installments, FX, batches and payouts come with the settlement issue.)
public struct SettlementStage: Stage {
    public struct Settings: Decodable, Sendable {
        /// The fee every capture pays, checked once when the settings are made.
        public let feePlan: FeePlan
        /// Fee in basis points of the amount (60 = 0.60%).
        public var feeBasisPoints: Int64 { feePlan.basisPoints }
        /// Fixed fee per payment, in minor units.
        public var feeFixed: Int64 { feePlan.fixed }

        public init(feeBasisPoints: Int64 = 60, feeFixed: Int64 = 0) throws {
            feePlan = try FeePlan(basisPoints: feeBasisPoints, fixed: feeFixed)
        }

        enum CodingKeys: String, CodingKey { case feeBasisPoints = "fee_basis_points", feeFixed = "fee_fixed" }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            do {
                feePlan = try FeePlan(basisPoints: try c.decodeIfPresent(Int64.self, forKey: .feeBasisPoints) ?? 60,
                                      fixed: try c.decodeIfPresent(Int64.self, forKey: .feeFixed) ?? 0)
            } catch let error as SettlementError {
                throw DecodingError.dataCorruptedError(forKey: .feeBasisPoints, in: c,
                                                       debugDescription: "fee_basis_points must be 0…10000 and fee_fixed ≥ 0 (\(error))")
            }
        }
    }

    public let name = "settlement-worker"
    public let topics: TopicNames
    public let settings: Settings

    public init(topics: TopicNames, settings: Settings) {
        self.topics = topics
        self.settings = settings
    }

    public var inputTopics: [String] { [topics.settlementRequests, topics.payoutConfirmations] }
    public var outputTopics: [String] { [topics.settlementEvents] }
    public var keepsMoney: Bool { true }
    public var schema: StageSchema { SettlementTables.schema }

    public func decode(_ record: ConsumedRecord) throws(DeadLetter) -> SettlementRequest {
        if record.topic == topics.payoutConfirmations {
            throw DeadLetter(code: "not_supported", message: "payout confirmations are not handled yet")
        }
        return try decodeMessage(SettlementRequest.self, schema: SettlementRequest.schemaName, from: record)
    }

    public func messageID(of request: SettlementRequest) -> String? { "settlement-request:\(request.eventId)" }

    public func apply(_ request: SettlementRequest, record: ConsumedRecord, in context: StageContext) throws {
        guard request.amount > 0 else { throw DeadLetter(code: "invalid_amount", message: "amount must be positive") }
        guard let currency = Currency.named(request.currency) else {
            throw DeadLetter(code: "unknown_currency", message: "currency '\(request.currency)' is not ISO 4217")
        }
        if request.requestType == .refund {
            // Until the settlement issue refines it (fee and split reversal): the merchant bears
            // the whole refund, which goes back to the channel it came from.
            try SettlementTables.post(context.db, posting: "refund:\(request.eventId)", currency: currency, legs: [
                .init("merchant_payable:\(request.merchantId)", request.amount), .init("clearing:\(request.method)", -request.amount),
            ], at: context.now)
            return
        }
        guard request.requestType == .capture else {
            throw DeadLetter(code: "not_supported", message: "settlement request type '\(request.type)' is not handled yet")
        }
        let breakdown: SettlementBreakdown
        do {
            breakdown = try SettlementBreakdown(
                settling: Money(minorUnits: request.amount, currency: currency),
                feePlan: settings.feePlan, commissionPlan: .zero, splitPlan: try SplitPlan(splits: request.splits))
        } catch {
            throw DeadLetter(code: error.code, message: "\(error)")
        }
        // Debit what the channel owes; credit each party its share. Zero parts are not booked.
        var legs = [SettlementTables.Leg("clearing:\(request.method)", request.amount)]
        let credits: [(String, Money)] = [("merchant_payable:\(request.merchantId)", breakdown.merchantNet),
                                          ("fee_revenue", breakdown.fee), ("commission_revenue", breakdown.commission)]
            + breakdown.splits.map { ("supplier_payable:\($0.partyId)", $0.amount) }
        for (account, amount) in credits where !amount.isZero {
            legs.append(.init(account, -amount.minorUnits))
        }
        // A payment is (payer, payment id) here: payment ids are unique per payer only.
        let payment = MessageID.part(request.payerId) + ":" + MessageID.part(request.paymentId)
        try SettlementTables.post(context.db, posting: "booking:\(payment)", currency: currency, legs: legs, at: context.now)
        try SettlementTables.recordSettlement(context.db, request: request, fee: breakdown.fee.minorUnits,
                                              net: breakdown.merchantNet.minorUnits, now: context.timestamp)

        let event = SettlementEvent(
            eventId: MessageID.settlementBooked(payer: request.payerId, payment: request.paymentId), sequence: 1, occurredAt: context.timestamp, type: "settlement.booked",
            paymentId: request.paymentId, orderId: request.orderId, payerId: request.payerId, merchantId: request.merchantId,
            amount: request.amount, currency: request.currency, fee: breakdown.fee.minorUnits,
            commission: breakdown.commission.minorUnits, net: breakdown.merchantNet.minorUnits,
            splits: breakdown.splits.map { Split(partyId: $0.partyId, amount: $0.amount.minorUnits) },
            settlementMode: request.settlement.mode, sourceEventId: request.eventId)
        try context.emit(event, topic: topics.settlementEvents, key: request.merchantId, eventID: event.eventId)
    }
}


public enum SettlementTables {
    public static let schema = StageSchema([
        ("settlement-v1", { db in
            try db.execute(sql: """
                CREATE TABLE settlement (
                    payment_id TEXT PRIMARY KEY NOT NULL,
                    merchant_id TEXT NOT NULL,
                    amount INTEGER NOT NULL,
                    currency TEXT NOT NULL,
                    fee INTEGER NOT NULL,
                    net INTEGER NOT NULL,
                    mode TEXT NOT NULL,
                    source_event_id TEXT NOT NULL,
                    booked_at TEXT NOT NULL
                );
                CREATE TABLE ledger_entry (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    posting_id TEXT NOT NULL,
                    account TEXT NOT NULL,
                    currency TEXT NOT NULL,
                    amount INTEGER NOT NULL,
                    posted_at TEXT NOT NULL
                );
                CREATE INDEX ledger_entry_posting ON ledger_entry(posting_id);
                CREATE INDEX ledger_entry_account ON ledger_entry(account, currency);
                """)
        }),
        // A payment downstream of the payment stage is (payer_id, payment_id): two payers may use
        // the same payment_id.
        ("settlement-v2-payer-payment", { db in
            try db.execute(sql: """
                CREATE TABLE settlement_v2 (
                    payer_id TEXT NOT NULL,
                    payment_id TEXT NOT NULL,
                    merchant_id TEXT NOT NULL,
                    amount INTEGER NOT NULL,
                    currency TEXT NOT NULL,
                    fee INTEGER NOT NULL,
                    net INTEGER NOT NULL,
                    mode TEXT NOT NULL,
                    source_event_id TEXT NOT NULL,
                    booked_at TEXT NOT NULL,
                    PRIMARY KEY (payer_id, payment_id)
                );
                INSERT INTO settlement_v2 (payer_id, payment_id, merchant_id, amount, currency, fee, net, mode, source_event_id, booked_at)
                    SELECT '', payment_id, merchant_id, amount, currency, fee, net, mode, source_event_id, booked_at FROM settlement;
                DROP TABLE settlement;
                ALTER TABLE settlement_v2 RENAME TO settlement;
                """)
        }),
        // The merchant-side ledger becomes the domain `Ledger`, persisted by LedgerTables like the
        // payer side: accounts per currency (`<name>:<CCY>`, clearing debit-normal, the payables
        // and revenues credit-normal) with stored balances, postings, entries, the FX carry.
        ("settlement-v3-domain-ledger", { db in
            try db.execute(sql: """
                DROP INDEX ledger_entry_posting;
                DROP INDEX ledger_entry_account;
                ALTER TABLE ledger_entry RENAME TO settlement_entry_v1;
                """)
            try LedgerTables.create(db)
            try LedgerTables.createFX(db)
            try db.execute(sql: """
                INSERT INTO ledger_posting (posting_id, posted_at)
                    SELECT posting_id, MIN(posted_at) FROM settlement_entry_v1 GROUP BY posting_id ORDER BY MIN(id);
                INSERT INTO ledger_entry (posting_id, account_id, currency, amount)
                    SELECT posting_id, account || ':' || currency, currency, amount FROM settlement_entry_v1 ORDER BY id;
                INSERT INTO ledger_account (account_id, currency, normal_side, floor, posted, pending)
                    SELECT account || ':' || currency, currency,
                           CASE WHEN account LIKE 'clearing:%' THEN 'debit' ELSE 'credit' END, NULL,
                           CASE WHEN account LIKE 'clearing:%' THEN SUM(amount) ELSE -SUM(amount) END, 0
                    FROM settlement_entry_v1 GROUP BY account, currency;
                DROP TABLE settlement_entry_v1;
                """)
        }),
        ("settlement-v4-ledger-hold-check", { db in try LedgerTables.rebuildHoldCheck(db) }),
    ])

    /// One leg of a posting: the account's name without its currency, and the amount in minor
    /// units, positive for a debit and negative for a credit.
    public struct Leg: Sendable, Equatable {
        public let account: String
        public let amount: Int64

        public init(_ account: String, _ amount: Int64) {
            self.account = account
            self.amount = amount
        }

        /// What the channel owes (`clearing:`) is an asset, debit-normal; what is owed to
        /// merchants and suppliers and what the platform earns are credit-normal.
        var normalSide: Account.NormalSide { account.hasPrefix("clearing:") ? .debit : .credit }
    }

    /// Books a posting on the merchant-side ledger: each leg's account is `<name>:<CCY>`, opened
    /// on first use. A posting that does not balance is refused (the record is parked as a dead
    /// letter, nothing of it is booked); one booked twice breaks the posting id's uniqueness.
    static func post(_ db: Database, posting: String, currency: Currency, legs: [Leg], at: Date) throws {
        let ids = legs.map { AccountID("\($0.account):\(currency.code)") }
        let before = try LedgerTables.load(db, accounts: ids, holds: [])
        var ledger = before
        do {
            for (leg, id) in zip(legs, ids) where ledger.accounts[id] == nil {
                try ledger.open(Account(id: id, currency: currency, normalSide: leg.normalSide))
            }
            try ledger.post(Posting(id: PostingID(posting), entries: zip(legs, ids).map {
                Entry(account: $1, amount: Money(minorUnits: $0.amount, currency: currency))
            }, postedAt: at))
        } catch {
            throw DeadLetter(code: "unbalanced_posting", message: "posting \(posting) refused by the ledger: \(error)")
        }
        try LedgerTables.save(db, from: before, to: ledger)
    }

    static func recordSettlement(_ db: Database, request: SettlementRequest, fee: Int64, net: Int64, now: String) throws {
        try db.cachedStatement(sql: """
            INSERT INTO settlement (payer_id, payment_id, merchant_id, amount, currency, fee, net, mode, source_event_id, booked_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [request.payerId, request.paymentId, request.merchantId, request.amount, request.currency, fee, net,
                             request.settlement.mode, request.eventId, now])
    }
}
