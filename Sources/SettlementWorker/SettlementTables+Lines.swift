import Foundation
import GRDB
import PaystreamDomain
import PaystreamWire
import PaystreamRuntime
import Synchronization

/// Settlement lines: the terms each payment was booked with, its parts, and what each refund took.
extension SettlementTables {
    // MARK: lines

    /// A booked payment: the terms it was priced with and what has happened to it since.
    struct Line {
        var payerID: String
        var paymentID: String
        var merchantID: String
        var orderID: String?
        var mode: String
        var method: String
        var currency: String
        var gross: Int64
        var reversed: Int64
        var repaid: Int64
        var settlementCurrency: String
        /// The account the gross was debited to, without its currency: `clearing:<method>` for
        /// prepaid, `receivable:<payer>` for post-paid and installments.
        var sourceAccount: String
        var pricing: SettlementPricing?
        var fx: FXSnapshot?
        var payoutCalendar: PayoutCalendar?
        var installmentFinancing: String?
        /// The sequence of the line's last event.
        var sequence: Int
        var sourceEventID: String
        var capturedAt: String
        var bookedAt: String
        /// The payer's locale for notifications, from the capture's request.
        var payerLocale: String? = nil
    }

    static func insert(_ db: Database, _ line: Line) throws {
        let pricing = try json(line.pricing) ?? "{}", fx = try json(line.fx), calendar = try calendarText(line.payoutCalendar)
        try db.hotStatement("""
            INSERT INTO settlement_line (payer_id, payment_id, merchant_id, order_id, mode, method, currency, gross, reversed, repaid,
                                         settlement_currency, source_account, pricing, fx, payout_calendar, installment_financing,
                                         sequence, source_event_id, captured_at, booked_at, payer_locale)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).run { row in
                row.text(line.payerID)
                row.text(line.paymentID)
                row.text(line.merchantID)
                row.text(line.orderID)
                row.text(line.mode)
                row.text(line.method)
                row.text(line.currency)
                row.int(line.gross)
                row.int(line.reversed)
                row.int(line.repaid)
                row.text(line.settlementCurrency)
                row.text(line.sourceAccount)
                row.text(pricing)
                row.text(fx)
                row.text(calendar)
                row.text(line.installmentFinancing)
                row.int(line.sequence)
                row.text(line.sourceEventID)
                row.text(line.capturedAt)
                row.text(line.bookedAt)
                row.text(line.payerLocale)
            }
    }

    static func update(_ db: Database, _ line: Line) throws {
        try db.hotStatement("""
            UPDATE settlement_line SET reversed = ?, repaid = ?, sequence = ? WHERE payer_id = ? AND payment_id = ?
            """).execute(arguments: [line.reversed, line.repaid, line.sequence, line.payerID, line.paymentID])
    }

    static func line(_ db: Database, payer: String, payment: String) throws -> Line? {
        try db.hotStatement("""
            SELECT payer_id, payment_id, merchant_id, order_id, mode, method, currency, gross, reversed, repaid, settlement_currency,
                source_account, pricing, fx, payout_calendar, installment_financing, sequence, source_event_id, captured_at, booked_at,
                payer_locale
            FROM settlement_line WHERE payer_id = ? AND payment_id = ?
            """).fetchFirst(binding: { row in
                row.text(payer)
                row.text(payment)
            }) { row in
            var line = Line(payerID: row.string(0), paymentID: row.string(1), merchantID: row.string(2), orderID: row.optionalString(3),
                            mode: row.string(4), method: row.string(5), currency: row.string(6), gross: row.int64(7),
                            reversed: row.int64(8), repaid: row.int64(9), settlementCurrency: row.string(10),
                            sourceAccount: row.string(11), pricing: try decoded(SettlementPricing.self, row.optionalString(12)),
                            fx: try decoded(FXSnapshot.self, row.optionalString(13)),
                            payoutCalendar: try decoded(PayoutCalendar.self, row.optionalString(14)),
                            installmentFinancing: row.optionalString(15), sequence: row.int(16), sourceEventID: row.string(17),
                            capturedAt: row.string(18), bookedAt: row.string(19))
            line.payerLocale = row.optionalString(20)
            return line
        }
    }

    // MARK: parts

    enum PartKind: String {
        case fee, commission, supplier, merchant
    }

    /// One part of a line's breakdown: booked in the payment's currency (`booked`) and in the
    /// currency it is owed in (`bookedSettled`: the settlement currency for suppliers and the
    /// merchant, the payment's for fee and commission), with what refunds reversed of each.
    struct Part {
        var position: Int
        var kind: PartKind
        var party: String
        /// The account it was credited to, with its currency (for the merchant: where its money
        /// ends up once available).
        var account: String
        var booked: Int64
        var reversed: Int64
        var settledCurrency: String
        var bookedSettled: Int64
        var reversedSettled: Int64
    }

    static func insert(_ db: Database, parts: [Part], payer: String, payment: String) throws {
        let statement = try db.hotStatement("""
            INSERT INTO settlement_part (payer_id, payment_id, position, kind, party, account, booked, reversed, settled_currency,
                                         booked_settled, reversed_settled)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        for part in parts {
            try statement.run { row in
                row.text(payer)
                row.text(payment)
                row.int(part.position)
                row.text(part.kind.rawValue)
                row.text(part.party)
                row.text(part.account)
                row.int(part.booked)
                row.int(part.reversed)
                row.text(part.settledCurrency)
                row.int(part.bookedSettled)
                row.int(part.reversedSettled)
            }
        }
    }

    static func update(_ db: Database, parts: [Part], payer: String, payment: String) throws {
        let statement = try db.hotStatement("""
            UPDATE settlement_part SET reversed = ?, reversed_settled = ? WHERE payer_id = ? AND payment_id = ? AND position = ?
            """)
        for part in parts {
            try statement.execute(arguments: [part.reversed, part.reversedSettled, payer, payment, part.position])
        }
    }

    static func parts(_ db: Database, payer: String, payment: String) throws -> [Part] {
        try Row.fetchAll(db.hotStatement("SELECT * FROM settlement_part WHERE payer_id = ? AND payment_id = ? ORDER BY position"),
                         arguments: [payer, payment]).map { row in
            guard let kind = PartKind(rawValue: row["kind"]) else {
                throw DeadLetter(code: "corrupt_state", message: "settlement part of kind '\(row["kind"] as String)'")
            }
            return Part(position: row["position"], kind: kind, party: row["party"], account: row["account"], booked: row["booked"],
                        reversed: row["reversed"], settledCurrency: row["settled_currency"], bookedSettled: row["booked_settled"],
                        reversedSettled: row["reversed_settled"])
        }
    }

    /// Stores what one refund took from each part (JSON: kind, party, amount, settled).
    static func recordReversal(_ db: Database, eventID: String, payer: String, payment: String, amount: Int64,
                               parts: [(Part, Int64, Int64)], at now: String) throws {
        let json = try Wire.encode(parts.map { ReversedPart(kind: $0.0.kind.rawValue, party: $0.0.party, amount: $0.1, settled: $0.2) })
        try db.hotStatement("""
            INSERT INTO settlement_reversal (event_id, payer_id, payment_id, amount, parts, reversed_at) VALUES (?, ?, ?, ?, ?, ?)
            """).execute(arguments: [eventID, payer, payment, amount, String(decoding: json, as: UTF8.self), now])
    }

    /// One part of a refund, as `settlement_reversal.parts` keeps it.
    public struct ReversedPart: Codable, Sendable, Hashable {
        public let kind: String
        public let party: String
        public let amount: Int64
        public let settled: Int64
    }

    // MARK: JSON columns

    private static func json<T: Encodable>(_ value: T?) throws -> String? {
        guard let value else { return nil }
        return String(decoding: try Wire.encode(value), as: UTF8.self)
    }

    /// A payout calendar as `json` writes it. Every line of a merchant carries the same calendar
    /// (holidays and all, about 50 k instructions to encode), so the last one written is kept
    /// with its text and compared instead.
    private static func calendarText(_ calendar: PayoutCalendar?) throws -> String? {
        guard let calendar else { return nil }
        if let text = lastCalendar.withLock({ $0?.0 == calendar ? $0?.1 : nil }) { return text }
        let text = try json(calendar)
        lastCalendar.withLock { $0 = text.map { (calendar, $0) } }
        return text
    }

    private static let lastCalendar = Mutex<(PayoutCalendar, String)?>(nil)

    private static func decoded<T: Decodable>(_ type: T.Type, _ text: String?) throws -> T? {
        guard let text, text != "{}" else { return nil }
        return try Wire.decodePlain(T.self, from: Data(text.utf8))
    }
}
