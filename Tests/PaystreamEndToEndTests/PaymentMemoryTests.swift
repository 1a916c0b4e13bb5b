import Foundation
import GRDB
@testable import PaymentWorker
import PaystreamDomain
import PaystreamRuntime
import PaystreamStore
import PaystreamTesting
import Testing

/// The payment rows in the shard's memory (`ShardMemory`, table 4) against SQLite: random
/// transactions of payments inserted and updated and taken off the expiry timer (with requests
/// logged and daily totals added beside them, which stay in SQLite) — with record savepoints and
/// whole transactions rolled back and rows written behind the shard's back. After every
/// transaction each payment, request log entry and daily total read inside the shard's write
/// transaction (through the memory) must equal what a plain read of SQLite gives.
@Suite("Payment memory: payments read from memory are what SQLite holds")
struct PaymentMemoryTests {
    static let paymentIDs = (0..<8).map { "pay-\($0)" } + ["pay-nul\u{0}a", "pay-nul\u{0}b"]
    static let requestIDs = (0..<8).map { "req-\($0)" } + ["req-nul\u{0}x"]
    static let payers = ["payer-a", "payer-b\u{0}tail"]
    static let days = ["2026-12-01", "2026-12-02"]
    static let currencies = [Currency.named("CNY")!, Currency.named("USD")!]
    static let statuses = PaymentStatus.allCases


    static func text(_ random: inout SeededRandom, _ base: String) -> String {
        random.chance(0.2) ? "\(base)\u{0}cut" : base
    }

    static func newPayment(_ id: String, _ random: inout SeededRandom, now: String) -> PaymentRecord {
        // Metadata with a whole number written as a Double (it reads back as an integer), a
        // fraction and a NUL inside a string (kept: JSON escapes it).
        let metadata: JSONValue? = random.chance(0.5) ? nil : .object([
            "whole": .number(2.0), "fraction": .number(0.25), "note": .string("a\u{0}b"), "n": .integer(7)])
        return PaymentRecord(
            paymentID: id, type: random.chance(0.8) ? .payment : .topup, requestID: text(&random, "req-of-\(id)"),
            orderID: random.chance(0.5) ? nil : text(&random, "order"), payerID: payers.randomElement(using: &random)!,
            merchantID: random.chance(0.3) ? nil : (random.chance(0.2) ? "" : text(&random, "merchant")),
            amount: Int64.random(in: 1...10_000, using: &random), currency: "CNY", method: text(&random, "card"),
            channel: "card", settlementMode: "prepaid", installments: random.chance(0.3) ? 3 : nil,
            splits: random.chance(0.5) ? [] : [Split(partyId: "sup\u{0}plier/1", amount: 5)],
            settlementCurrency: random.chance(0.5) ? nil : "USD", metadata: metadata, funding: .channel, status: .authorized,
            sequence: 1, captured: 0, refunded: 0, lateCapture: nil, channelReference: nil, createdAt: now, updatedAt: text(&random, now),
            capturedAt: nil, queriedAt: nil, nextCheckAt: random.chance(0.7) ? now : nil)
    }

    /// One random change through the stage's typed store methods.
    static func change(_ db: Database, _ random: inout SeededRandom, step: Int) throws {
        let now = "2026-12-0\(1 + step % 2)T00:00:\(String(format: "%02d", step % 60)).000Z"
        switch Int.random(in: 0..<7, using: &random) {
        case 0:
            let id = paymentIDs.randomElement(using: &random)!
            if try PaymentTables.payment(db, id: id) == nil { try PaymentTables.insert(db, newPayment(id, &random, now: now)) }
        case 1, 2:
            guard var payment = try PaymentTables.payment(db, id: paymentIDs.randomElement(using: &random)!) else { return }
            payment.status = statuses.randomElement(using: &random)!
            payment.sequence += 1
            payment.channelReference = random.chance(0.5) ? nil : text(&random, "ch-ref")
            payment.updatedAt = text(&random, now)
            payment.captured = Int64.random(in: 0...payment.amount, using: &random)
            payment.refunded = Int64.random(in: 0...payment.captured, using: &random)
            payment.lateCapture = random.chance(0.7) ? nil : .init(minorUnits: 3, currencyCode: text(&random, "USD"))
            payment.capturedAt = random.chance(0.5) ? nil : now
            payment.queriedAt = random.chance(0.5) ? nil : text(&random, now)
            payment.nextCheckAt = random.chance(0.5) ? nil : now
            // Fields the update does not write: the memory must not take them either.
            payment.amount += 1
            payment.orderID = "changed-in-memory-only"
            try PaymentTables.update(db, payment)
        case 3:
            try PaymentTables.stopChecking(db, paymentID: paymentIDs.randomElement(using: &random)!)
        case 4:
            let id = requestIDs.randomElement(using: &random)!
            if try PaymentTables.requestLog(db, requestID: id) == nil {
                try PaymentTables.logRequest(db, requestID: id, fingerprint: text(&random, "fp"), paymentID: text(&random, "pay-0"),
                                             status: random.chance(0.5) ? "accepted" : "rejected",
                                             eventIDs: random.chance(0.5) ? [] : ["e/1", "e\u{0}2"], now: now)
            }
        case 5:
            let payer = payers.randomElement(using: &random)!, currency = currencies.randomElement(using: &random)!
            let day = days.randomElement(using: &random)!
            _ = try PaymentTables.dailyTotals(db, payerID: payer, currency: currency, day: day)
            try PaymentTables.addToDailyTotals(db, payerID: payer, amount: Money(minorUnits: Int64.random(in: 1...500, using: &random),
                                                                                  currency: currency), day: day)
        default:
            if random.chance(0.3) { _ = try PaymentTables.pruneRequestLog(db, before: "2026-12-02T00:00:00.000Z") }
        }
        _ = try PaymentTables.payment(db, id: paymentIDs.randomElement(using: &random)!)
    }

    /// A write by another connection (a tool, a second process on the state directory).
    static func behindTheBack(_ path: String, _ random: inout SeededRandom) throws {
        let other = try DatabaseQueue(path: path)
        defer { try? other.close() }
        try other.write { db in
            switch Int.random(in: 0..<3, using: &random) {
            case 0: try db.execute(sql: "UPDATE payment SET status = 'failed', sequence = sequence + 1")
            case 1: try db.execute(sql: "UPDATE request_log SET fingerprint = 'changed'")
            default: try db.execute(sql: "UPDATE payer_daily_total SET amount = amount + 9, count = count + 1")
            }
        }
    }

    struct Seen: Equatable {
        var payments: [PaymentRecord?] = []
        var requests: [String] = []
        var totals: [RequestRules.DailyTotals] = []
    }

    static func everything(_ db: Database) throws -> Seen {
        var seen = Seen()
        for id in paymentIDs { seen.payments.append(try PaymentTables.payment(db, id: id)) }
        for id in requestIDs {
            let logged = try PaymentTables.requestLog(db, requestID: id)
            seen.requests.append(logged.map { "\($0.fingerprint)|\($0.paymentID)|\($0.status)|\($0.eventIDs ?? [])" } ?? "none")
        }
        for payer in payers {
            for currency in currencies {
                for day in days { seen.totals.append(try PaymentTables.dailyTotals(db, payerID: payer, currency: currency, day: day)) }
            }
        }
        return seen
    }

    @Test("random payment-stage transactions, savepoints and transactions rolled back, writes by another connection",
          arguments: [1, 2, 3] as [UInt64])
    func memoryMatchesSQLite(seed: UInt64) throws {
        let folder = try temporaryDirectory("payment-memory")
        let path = "\(folder)/p0.sqlite"
        let shard = try ShardStore(path: path, partition: 0, schema: PaymentTables.schema)
        defer { try? shard.close() }
        var random = SeededRandom(seed: seed)
        var step = 0
        var churn = ShardChurn()
        for _ in 0..<200 {
            try churn.round(shard, &random, odds: .init(foreignWrite: 0.08, abort: 0.12, savepointRollback: 0.15, maxChanges: 6),
                            behindTheBack: { try Self.behindTheBack(path, &$0) },
                            change: { db, random in
                                step += 1
                                try Self.change(db, &random, step: step)
                            })
            let remembered = try shard.write { try Self.everything($0) }
            let stored = try shard.read { try Self.everything($0) }
            #expect(remembered == stored, "after \(step) changes")
            guard remembered == stored else { break }
        }
        #expect(churn.transactionsRolledBack > 5 && churn.savepointsRolledBack > 20 && churn.foreignWrites > 5)
        let final = try shard.read { try Self.everything($0) }
        // The run made rows of every kind, or it proves nothing about them.
        #expect(final.payments.compactMap { $0 }.count >= 5 && final.payments.contains { $0?.metadata != nil })
        #expect(final.totals.contains { $0.count > 0 })
        let counts = shard.memory.counts
        #expect(counts.hits > counts.misses, "hits \(counts.hits), misses \(counts.misses)")
    }

    @Test("a payment with metadata read from memory after its insert is the payment read from SQLite (a whole number written as 2.0 reads back as 2)")
    func insertedAsStored() throws {
        let folder = try temporaryDirectory("payment-memory-stored")
        let shard = try ShardStore(path: "\(folder)/p0.sqlite", partition: 0, schema: PaymentTables.schema)
        defer { try? shard.close() }
        var random = SeededRandom(seed: 9)
        var payment = Self.newPayment("pay-x", &random, now: "2026-12-01T00:00:00.000Z")
        payment.metadata = .object(["whole": .number(2.0)])
        payment.merchantID = ""
        payment.payerID = "payer\u{0}cut"
        try shard.write { try PaymentTables.insert($0, payment) }
        let remembered = try shard.write { try PaymentTables.payment($0, id: "pay-x") }
        let stored = try shard.read { try PaymentTables.payment($0, id: "pay-x") }
        #expect(remembered == stored)
        #expect(stored?.metadata == .object(["whole": .integer(2)]) && stored?.merchantID == nil && stored?.payerID == "payer")
        #expect(shard.memory.counts.hits == 1)
    }
}
