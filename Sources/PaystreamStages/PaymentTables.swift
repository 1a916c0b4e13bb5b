import Foundation
import GRDB
import PaystreamDomain
import PaystreamStore

/// The payment stage's tables and the statements on them (all inside the batch transaction).
public enum PaymentTables {
    public static let schema = StageSchema([
        ("payment-v1", { db in
            try db.execute(sql: """
                CREATE TABLE payment (
                    payment_id TEXT PRIMARY KEY NOT NULL,
                    request_id TEXT NOT NULL,
                    order_id TEXT,
                    payer_id TEXT NOT NULL,
                    merchant_id TEXT NOT NULL,
                    amount INTEGER NOT NULL CHECK (amount > 0),
                    currency TEXT NOT NULL,
                    method TEXT NOT NULL,
                    channel TEXT NOT NULL,
                    settlement_mode TEXT NOT NULL,
                    installments INTEGER,
                    splits TEXT NOT NULL,
                    settlement_currency TEXT,
                    metadata TEXT,
                    status TEXT NOT NULL,
                    sequence INTEGER NOT NULL,
                    channel_reference TEXT,
                    created_at TEXT NOT NULL,
                    updated_at TEXT NOT NULL
                );
                CREATE INDEX payment_payer ON payment(payer_id);
                CREATE TABLE request_log (
                    request_id TEXT PRIMARY KEY NOT NULL,
                    fingerprint TEXT NOT NULL,
                    payment_id TEXT NOT NULL,
                    status TEXT NOT NULL,
                    received_at TEXT NOT NULL
                );
                """)
        }),
        ("payment-v2-daily-totals", { db in
            // Accepted payments per payer, currency and UTC day, for the daily risk limits.
            try db.execute(sql: """
                CREATE TABLE payer_daily_total (
                    payer_id TEXT NOT NULL,
                    currency TEXT NOT NULL,
                    day TEXT NOT NULL,
                    amount INTEGER NOT NULL,
                    count INTEGER NOT NULL,
                    PRIMARY KEY (payer_id, currency, day)
                );
                """)
        }),
    ])

    struct LoggedRequest {
        let fingerprint: String
        let paymentID: String
        let status: String
    }

    static func requestLog(_ db: Database, requestID: String) throws -> LoggedRequest? {
        try Row.fetchOne(db, sql: "SELECT fingerprint, payment_id, status FROM request_log WHERE request_id = ?",
                         arguments: [requestID])
            .map { LoggedRequest(fingerprint: $0["fingerprint"], paymentID: $0["payment_id"], status: $0["status"]) }
    }

    /// The events that answered a request: its rejection, or every event of the payment it made.
    static func eventIDs(_ db: Database, answering requestID: String, _ logged: LoggedRequest) throws -> [String] {
        if logged.status == PaymentStatus.rejected.rawValue { return ["rj:\(requestID)"] }
        guard let payment = try payment(db, id: logged.paymentID) else { return [] }
        return (1...max(payment.sequence, 1)).map { "pe:\(payment.paymentID):\($0)" }
    }

    static func dailyTotals(_ db: Database, payerID: String, currency: Currency, day: String) throws -> RequestRules.DailyTotals {
        guard let row = try Row.fetchOne(db, sql: """
            SELECT amount, count FROM payer_daily_total WHERE payer_id = ? AND currency = ? AND day = ?
            """, arguments: [payerID, currency.code, day]) else { return .none(currency) }
        return RequestRules.DailyTotals(amount: Money(minorUnits: row["amount"], currency: currency), count: row["count"])
    }

    static func addToDailyTotals(_ db: Database, payerID: String, amount: Money, day: String) throws {
        // The limits were checked against these totals just before, so the sum cannot overflow
        // past the configured daily amount.
        try db.execute(sql: """
            INSERT INTO payer_daily_total (payer_id, currency, day, amount, count) VALUES (?, ?, ?, ?, 1)
            ON CONFLICT(payer_id, currency, day) DO UPDATE SET amount = amount + excluded.amount, count = count + 1
            """, arguments: [payerID, amount.currency.code, day, amount.minorUnits])
    }

    static func logRequest(_ db: Database, requestID: String, fingerprint: String, paymentID: String,
                           status: PaymentStatus, now: String) throws {
        try db.execute(sql: "INSERT INTO request_log (request_id, fingerprint, payment_id, status, received_at) VALUES (?, ?, ?, ?, ?)",
                       arguments: [requestID, fingerprint, paymentID, status.rawValue, now])
    }

    static func insert(_ db: Database, _ p: PaymentRecord, fingerprint: String) throws {
        try db.execute(sql: """
            INSERT INTO payment (payment_id, request_id, order_id, payer_id, merchant_id, amount, currency, method, channel,
                settlement_mode, installments, splits, settlement_currency, metadata, status, sequence, channel_reference,
                created_at, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [p.paymentID, p.requestID, p.orderID, p.payerID, p.merchantID, p.amount, p.currency, p.method,
                             p.channel, p.settlementMode, p.installments, try json(p.splits), p.settlementCurrency,
                             try p.metadata.map(json), p.status.rawValue, p.sequence, p.channelReference, p.createdAt,
                             p.updatedAt])
        try logRequest(db, requestID: p.requestID, fingerprint: fingerprint, paymentID: p.paymentID, status: p.status,
                       now: p.createdAt)
    }

    static func update(_ db: Database, _ p: PaymentRecord) throws {
        try db.execute(sql: """
            UPDATE payment SET status = ?, sequence = ?, channel_reference = ?, updated_at = ? WHERE payment_id = ?
            """, arguments: [p.status.rawValue, p.sequence, p.channelReference, p.updatedAt, p.paymentID])
    }

    public static func payment(_ db: Database, id: String) throws -> PaymentRecord? {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM payment WHERE payment_id = ?", arguments: [id]) else { return nil }
        let splits: String = row["splits"]
        let metadata: String? = row["metadata"]
        return PaymentRecord(
            paymentID: row["payment_id"], requestID: row["request_id"], orderID: row["order_id"], payerID: row["payer_id"],
            merchantID: row["merchant_id"], amount: row["amount"], currency: row["currency"], method: row["method"],
            channel: row["channel"], settlementMode: row["settlement_mode"], installments: row["installments"],
            splits: try JSONDecoder().decode([Split].self, from: Data(splits.utf8)),
            settlementCurrency: row["settlement_currency"],
            metadata: try metadata.map { try JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)) },
            status: PaymentStatus(rawValue: row["status"]) ?? .failed, sequence: row["sequence"],
            channelReference: row["channel_reference"], createdAt: row["created_at"], updatedAt: row["updated_at"])
    }

    static func json<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try JSONEncoder.sortedKeys.encode(value), as: UTF8.self)
    }
}
