import Foundation
import GRDB
import PaystreamDomain
import PaystreamWire
import PaystreamStore
import PaystreamChannels

/// What the gateway keeps per shard: the orders it made at the channels (trades and refunds,
/// by our number), the calls due on them, the queries and cancels waiting for an order's fate,
/// and the answers recorded beside the loop that the next tick publishes. Every function runs
/// inside the caller's transaction.
enum GatewayTables {
    static let schema = StageSchema([
        ("gateway-v1", { db in
            try db.execute(sql: """
                CREATE TABLE gateway_order (
                    out_no TEXT PRIMARY KEY NOT NULL,
                    channel TEXT NOT NULL,
                    -- payment | refund
                    kind TEXT NOT NULL,
                    channel_request_id TEXT NOT NULL UNIQUE,
                    payment_id TEXT NOT NULL,
                    record_key TEXT NOT NULL,
                    method TEXT NOT NULL,
                    amount INTEGER NOT NULL CHECK (amount > 0),
                    currency TEXT NOT NULL,
                    -- a refund's payment: its out_trade_no and amount
                    payment_out_no TEXT,
                    payment_amount INTEGER,
                    -- 1 once the channel said the trade exists
                    created INTEGER NOT NULL DEFAULT 0,
                    -- NULL while open; approved | declined (answered on the topic) | silent
                    -- (settled without an answer: voided by a cancel, or never created)
                    answer TEXT,
                    -- 1 once a payment that came after a decline or silence was answered (late)
                    late_answered INTEGER NOT NULL DEFAULT 0,
                    -- what the answer said: the amount the channel took, its reference, a decline's reason
                    answered_amount INTEGER,
                    reference TEXT,
                    reason TEXT,
                    created_at TEXT NOT NULL
                );
                CREATE TABLE gateway_call (
                    out_no TEXT NOT NULL,
                    -- create | query | close | refund | refund_query
                    action TEXT NOT NULL,
                    -- milliseconds since 1970 on the worker's clock
                    due_ms INTEGER NOT NULL,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    -- a close's decline reason, when the close is on the way to a decline
                    reason TEXT,
                    PRIMARY KEY (out_no, action)
                );
                CREATE INDEX gateway_call_due ON gateway_call(due_ms);
                CREATE TABLE gateway_waiting (
                    channel_request_id TEXT PRIMARY KEY NOT NULL,
                    out_no TEXT NOT NULL,
                    -- query | cancel
                    request_type TEXT NOT NULL,
                    payment_id TEXT NOT NULL,
                    amount INTEGER NOT NULL,
                    currency TEXT NOT NULL,
                    record_key TEXT NOT NULL
                );
                CREATE INDEX gateway_waiting_order ON gateway_waiting(out_no);
                CREATE TABLE gateway_answer (
                    sequence INTEGER PRIMARY KEY,
                    event_id TEXT NOT NULL UNIQUE,
                    record_key TEXT NOT NULL,
                    confirmation TEXT NOT NULL
                );
                """)
        }),
        // Whose seal an answer gets: the method of the instruction it answers (`AnswerSeal`).
        ("gateway-v2-answer-signer", { db in
            try db.execute(sql: "ALTER TABLE gateway_answer ADD COLUMN signer TEXT NOT NULL DEFAULT ''")
        }),
    ])

    // MARK: orders

    static func insert(_ db: Database, _ order: GatewayOrder, at: String) throws {
        try db.execute(sql: """
            INSERT INTO gateway_order (out_no, channel, kind, channel_request_id, payment_id, record_key, method, amount, currency,
                                       payment_out_no, payment_amount, created, answer, late_answered, answered_amount, reference, reason,
                                       created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [order.outNo, order.channel.rawValue, order.kind.rawValue, order.channelRequestId, order.paymentId, order.recordKey,
                             order.method, order.amount, order.currency, order.paymentOutNo, order.paymentAmount, order.created,
                             order.answer?.rawValue, order.lateAnswered, order.answeredAmount, order.reference, order.reason, at])
    }

    static func order(_ db: Database, outNo: String) throws -> GatewayOrder? {
        try Row.fetchOne(db, sql: "SELECT * FROM gateway_order WHERE out_no = ?", arguments: [outNo]).map(GatewayOrder.init(row:))
    }

    static func order(_ db: Database, channelRequestId: String) throws -> GatewayOrder? {
        try Row.fetchOne(db, sql: "SELECT * FROM gateway_order WHERE channel_request_id = ?", arguments: [channelRequestId])
            .map(GatewayOrder.init(row:))
    }

    static func update(_ db: Database, _ order: GatewayOrder) throws {
        try db.execute(sql: """
            UPDATE gateway_order SET created = ?, answer = ?, late_answered = ?, answered_amount = ?, reference = ?, reason = ?
            WHERE out_no = ?
            """, arguments: [order.created, order.answer?.rawValue, order.lateAnswered, order.answeredAmount, order.reference, order.reason,
                             order.outNo])
    }

    // MARK: calls

    static func schedule(_ db: Database, outNo: String, action: GatewayAction, dueMs: Int64, attempts: Int = 0, reason: String? = nil) throws {
        try db.execute(sql: """
            INSERT INTO gateway_call (out_no, action, due_ms, attempts, reason) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (out_no, action) DO UPDATE SET due_ms = excluded.due_ms, attempts = excluded.attempts,
                reason = coalesce(excluded.reason, gateway_call.reason)
            """, arguments: [outNo, action.rawValue, dueMs, attempts, reason])
    }

    static func dropCalls(_ db: Database, outNo: String, except: GatewayAction? = nil) throws {
        try db.execute(sql: "DELETE FROM gateway_call WHERE out_no = ? AND action IS NOT ?", arguments: [outNo, except?.rawValue])
    }

    static func dropCall(_ db: Database, outNo: String, action: GatewayAction) throws {
        try db.execute(sql: "DELETE FROM gateway_call WHERE out_no = ? AND action = ?", arguments: [outNo, action.rawValue])
    }

    static func call(_ db: Database, outNo: String, action: GatewayAction) throws -> GatewayCall? {
        try Row.fetchOne(db, sql: "SELECT * FROM gateway_call WHERE out_no = ? AND action = ?", arguments: [outNo, action.rawValue])
            .flatMap(GatewayCall.init(row:))
    }

    static func due(_ db: Database, at ms: Int64, limit: Int) throws -> [GatewayCall] {
        try Row.fetchAll(db, sql: "SELECT * FROM gateway_call WHERE due_ms <= ? ORDER BY due_ms LIMIT ?", arguments: [ms, limit])
            .compactMap(GatewayCall.init(row:))
    }

    static func callCount(_ db: Database) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT count(*) FROM gateway_call") ?? 0
    }

    // MARK: waiting queries and cancels

    static func wait(_ db: Database, _ waiting: GatewayWaiting) throws {
        try db.execute(sql: """
            INSERT OR IGNORE INTO gateway_waiting (channel_request_id, out_no, request_type, payment_id, amount, currency, record_key)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            """, arguments: [waiting.channelRequestId, waiting.outNo, waiting.requestType.rawValue, waiting.paymentId, waiting.amount,
                             waiting.currency, waiting.recordKey])
    }

    static func waiting(_ db: Database, outNo: String) throws -> [GatewayWaiting] {
        try Row.fetchAll(db, sql: "SELECT * FROM gateway_waiting WHERE out_no = ? ORDER BY channel_request_id", arguments: [outNo])
            .compactMap(GatewayWaiting.init(row:))
    }

    static func stopWaiting(_ db: Database, channelRequestId: String) throws {
        try db.execute(sql: "DELETE FROM gateway_waiting WHERE channel_request_id = ?", arguments: [channelRequestId])
    }

    // MARK: answers to publish

    /// Queues an answer; one already queued or sent under `eventID` is not queued again.
    /// - Parameter signer: the method answered, whose key seals the answer.
    static func queue(_ db: Database, eventID: String, key: String, signer: String, _ confirmation: ChannelConfirmation) throws {
        let json = String(decoding: try Wire.encode(confirmation), as: UTF8.self)
        try db.execute(sql: """
            INSERT OR IGNORE INTO gateway_answer (sequence, event_id, record_key, confirmation, signer)
            VALUES ((SELECT coalesce(max(sequence), 0) + 1 FROM gateway_answer), ?, ?, ?, ?)
            """, arguments: [eventID, key, json, signer])
    }

    static func takeAnswers(_ db: Database, limit: Int) throws
        -> [(eventID: String, key: String, signer: String, confirmation: ChannelConfirmation)] {
        let rows = try Row.fetchAll(db, sql: "SELECT * FROM gateway_answer ORDER BY sequence LIMIT ?", arguments: [limit])
        var answers: [(String, String, String, ChannelConfirmation)] = []
        for row in rows {
            let eventID: String = row["event_id"]
            try db.execute(sql: "DELETE FROM gateway_answer WHERE event_id = ?", arguments: [eventID])
            let text: String = row["confirmation"]
            answers.append((eventID, row["record_key"], row["signer"], try Wire.decode(ChannelConfirmation.self, from: Data(text.utf8))))
        }
        return answers
    }
}

/// An order the gateway made at a channel (a trade, or a refund of one).
struct GatewayOrder: Sendable, Equatable {
    enum Kind: String, Sendable { case payment, refund }
    enum Answer: String, Sendable { case approved, declined, silent }

    var outNo: String
    var channel: ChannelKind
    var kind: Kind
    var channelRequestId: String
    var paymentId: String
    var recordKey: String
    var method: String
    var amount: Int64
    var currency: String
    var paymentOutNo: String?
    var paymentAmount: Int64?
    var created = false
    var answer: Answer?
    var lateAnswered = false
    var answeredAmount: Int64?
    var reference: String?
    var reason: String?

    var isOpen: Bool { answer == nil }

    init(outNo: String, channel: ChannelKind, kind: Kind, channelRequestId: String, paymentId: String, recordKey: String, method: String,
         amount: Int64, currency: String, paymentOutNo: String? = nil, paymentAmount: Int64? = nil) {
        self.outNo = outNo
        self.channel = channel
        self.kind = kind
        self.channelRequestId = channelRequestId
        self.paymentId = paymentId
        self.recordKey = recordKey
        self.method = method
        self.amount = amount
        self.currency = currency
        self.paymentOutNo = paymentOutNo
        self.paymentAmount = paymentAmount
    }

    init(row: Row) {
        outNo = row["out_no"]
        channel = ChannelKind(rawValue: row["channel"]) ?? .alipay
        kind = Kind(rawValue: row["kind"]) ?? .payment
        channelRequestId = row["channel_request_id"]
        paymentId = row["payment_id"]
        recordKey = row["record_key"]
        method = row["method"]
        amount = row["amount"]
        currency = row["currency"]
        paymentOutNo = row["payment_out_no"]
        paymentAmount = row["payment_amount"]
        created = row["created"]
        answer = (row["answer"] as String?).flatMap(Answer.init(rawValue:))
        lateAnswered = row["late_answered"]
        answeredAmount = row["answered_amount"]
        reference = row["reference"]
        reason = row["reason"]
    }
}


/// A call due at a channel.
struct GatewayCall: Sendable, Equatable, Hashable {
    var outNo: String
    var action: GatewayAction
    var dueMs: Int64
    var attempts: Int
    var reason: String?

    init(outNo: String, action: GatewayAction, dueMs: Int64, attempts: Int, reason: String?) {
        self.outNo = outNo
        self.action = action
        self.dueMs = dueMs
        self.attempts = attempts
        self.reason = reason
    }

    init?(row: Row) {
        guard let action = GatewayAction(rawValue: row["action"]) else { return nil }
        self.init(outNo: row["out_no"], action: action, dueMs: row["due_ms"], attempts: row["attempts"], reason: row["reason"])
    }
}

/// A query or cancel waiting for its authorization's order to be settled.
struct GatewayWaiting: Sendable, Equatable {
    var channelRequestId: String
    var outNo: String
    var requestType: ChannelRequestType
    var paymentId: String
    var amount: Int64
    var currency: String
    var recordKey: String

    init(channelRequestId: String, outNo: String, requestType: ChannelRequestType, paymentId: String, amount: Int64, currency: String,
         recordKey: String) {
        self.channelRequestId = channelRequestId
        self.outNo = outNo
        self.requestType = requestType
        self.paymentId = paymentId
        self.amount = amount
        self.currency = currency
        self.recordKey = recordKey
    }

    init?(row: Row) {
        guard let type = ChannelRequestType(rawValue: row["request_type"]) else { return nil }
        self.init(channelRequestId: row["channel_request_id"], outNo: row["out_no"], requestType: type, paymentId: row["payment_id"],
                  amount: row["amount"], currency: row["currency"], recordKey: row["record_key"])
    }
}
