import Foundation
import GRDB
import PaystreamDomain
import PaystreamWire
import PaystreamStore

/// The sandbox channel's own state in each shard: what it decided about each authorization,
/// the answers it has yet to send, and its statement lines. Every function runs inside the
/// caller's (batch or tick) transaction.
public enum ChannelSandboxTables {
    public static let schema = StageSchema([
        ("sandbox-v1", { db in
            try db.execute(sql: """
                CREATE TABLE channel_authorization (
                    channel_request_id TEXT PRIMARY KEY NOT NULL,
                    payment_id TEXT NOT NULL,
                    method TEXT NOT NULL,
                    currency TEXT NOT NULL,
                    requested_amount INTEGER NOT NULL,
                    -- approved | declined: the channel's decision, fixed when the request arrives
                    decision TEXT NOT NULL,
                    -- what the channel took (differs from requested_amount on an amount mismatch)
                    confirmed_amount INTEGER NOT NULL,
                    reason TEXT,
                    channel_reference TEXT NOT NULL,
                    -- pending (answer not yet due) | sent | withheld (decided, never answered)
                    -- | cancelled (a cancel arrived while the answer was pending; never answered)
                    completion TEXT NOT NULL,
                    refunded INTEGER NOT NULL DEFAULT 0 CHECK (refunded >= 0),
                    decided_at TEXT NOT NULL
                );
                CREATE TABLE pending_answer (
                    sequence INTEGER PRIMARY KEY AUTOINCREMENT,
                    channel_request_id TEXT NOT NULL,
                    -- 1: the answer; 2: its repetition (same confirmation_id)
                    copy INTEGER NOT NULL,
                    -- milliseconds since 1970 (UTC) on the worker's clock
                    due_at INTEGER NOT NULL,
                    -- 1: the answer completes the instruction but is not sent (no-answer)
                    withheld INTEGER NOT NULL,
                    method TEXT NOT NULL,
                    message_key TEXT,
                    confirmation TEXT NOT NULL,
                    UNIQUE (channel_request_id, copy)
                );
                CREATE INDEX pending_answer_due ON pending_answer(due_at, sequence);
                CREATE TABLE statement_line (
                    sequence INTEGER PRIMARY KEY AUTOINCREMENT,
                    channel_request_id TEXT NOT NULL UNIQUE,
                    day TEXT NOT NULL,
                    method TEXT NOT NULL,
                    channel_reference TEXT NOT NULL,
                    payment_id TEXT NOT NULL,
                    amount INTEGER NOT NULL,
                    currency TEXT NOT NULL,
                    fee INTEGER NOT NULL,
                    type TEXT NOT NULL,
                    answered_at TEXT NOT NULL
                );
                CREATE INDEX statement_line_file ON statement_line(day, method, sequence);
                -- statement files whose lines changed since they were last written, and since when
                CREATE TABLE statement_stale (
                    day TEXT NOT NULL,
                    method TEXT NOT NULL,
                    since INTEGER NOT NULL,
                    PRIMARY KEY (day, method)
                );
                """)
        }),
        // The settlement bank: each payout's decision, and answers not yet due.
        ("sandbox-v2-bank", { db in
            try db.execute(sql: """
                CREATE TABLE bank_payout (
                    payout_id TEXT PRIMARY KEY NOT NULL,
                    amount INTEGER NOT NULL,
                    currency TEXT NOT NULL,
                    failed INTEGER NOT NULL,
                    reason TEXT NOT NULL,
                    bank_reference TEXT NOT NULL,
                    decided_at TEXT NOT NULL
                );
                CREATE TABLE bank_answer (
                    sequence INTEGER PRIMARY KEY AUTOINCREMENT,
                    payout_id TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    due_at INTEGER NOT NULL,
                    message_key TEXT NOT NULL,
                    confirmation TEXT NOT NULL,
                    UNIQUE (payout_id, kind)
                );
                CREATE INDEX bank_answer_due ON bank_answer(due_at, sequence);
                """)
        }),
    ])

    // MARK: authorizations

    struct Authorization {
        let channelRequestID: String
        let paymentID: String
        let method: String
        let currency: String
        let requestedAmount: Int64
        let decision: ChannelAnswer
        let confirmedAmount: Int64
        let reason: String?
        let channelReference: String
        let completion: Completion
        let refunded: Int64
    }

    enum Completion: String {
        case pending, sent, withheld, cancelled
    }

    static func authorization(_ db: Database, id: String) throws -> Authorization? {
        try db.hotStatement("""
            SELECT channel_request_id, payment_id, method, currency, requested_amount, decision, confirmed_amount, reason,
                channel_reference, completion, refunded
            FROM channel_authorization WHERE channel_request_id = ?
            """).fetchFirst(binding: { $0.text(id) }) { row in
            Authorization(
                channelRequestID: row.string(0), paymentID: row.string(1), method: row.string(2), currency: row.string(3),
                requestedAmount: row.int64(4), decision: ChannelAnswer(rawValue: row.string(5)) ?? .declined,
                confirmedAmount: row.int64(6), reason: row.optionalString(7), channelReference: row.string(8),
                completion: Completion(rawValue: row.string(9)) ?? .sent, refunded: row.int64(10))
        }
    }

    static func insert(_ db: Database, _ a: Authorization, decidedAt: String) throws {
        try db.hotStatement("""
            INSERT INTO channel_authorization (channel_request_id, payment_id, method, currency, requested_amount, decision,
                confirmed_amount, reason, channel_reference, completion, refunded, decided_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).run { row in
                row.text(a.channelRequestID)
                row.text(a.paymentID)
                row.text(a.method)
                row.text(a.currency)
                row.int(a.requestedAmount)
                row.text(a.decision.rawValue)
                row.int(a.confirmedAmount)
                row.text(a.reason)
                row.text(a.channelReference)
                row.text(a.completion.rawValue)
                row.int(a.refunded)
                row.text(decidedAt)
            }
    }

    /// Moves a pending authorization to `completion`; one that is no longer pending stays as it is.
    static func complete(_ db: Database, id: String, as completion: Completion) throws {
        try db.hotStatement("UPDATE channel_authorization SET completion = ? WHERE channel_request_id = ? AND completion = 'pending'").run { row in
            row.text(completion.rawValue)
            row.text(id)
        }
    }

    static func addRefund(_ db: Database, id: String, amount: Int64) throws {
        try db.hotStatement("UPDATE channel_authorization SET refunded = refunded + ? WHERE channel_request_id = ?").execute(arguments: [amount, id])
    }

    // MARK: pending answers

    /// What the bank decided about a payout.
    struct BankPayout {
        let payoutID: String
        let amount: Int64
        let currency: String
        let failed: Bool
        /// Why it fails, when it does.
        let reason: String
        let reference: String
    }

    static func insert(_ db: Database, bankPayout p: BankPayout, at now: String) throws {
        try db.hotStatement("""
            INSERT INTO bank_payout (payout_id, amount, currency, failed, reason, bank_reference, decided_at) VALUES (?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [p.payoutID, p.amount, p.currency, p.failed, p.reason, p.reference, now])
    }

    static func bankPayout(_ db: Database, id: String) throws -> BankPayout? {
        try Row.fetchOne(db.hotStatement("SELECT * FROM bank_payout WHERE payout_id = ?"), arguments: [id]).map {
            BankPayout(payoutID: $0["payout_id"], amount: $0["amount"], currency: $0["currency"], failed: $0["failed"], reason: $0["reason"],
                       reference: $0["bank_reference"])
        }
    }

    /// Keeps a bank answer until `dueAt` (ms); one per payout and kind (a repeat is not stored twice).
    static func insert(_ db: Database, bankAnswer answer: PayoutConfirmation, key: String, kind: String, dueAt: Int64) throws {
        try db.hotStatement("""
            INSERT OR IGNORE INTO bank_answer (payout_id, kind, due_at, message_key, confirmation) VALUES (?, ?, ?, ?, ?)
            """).execute(arguments: [answer.payoutId, kind, dueAt, key, String(decoding: try Wire.encode(answer), as: UTF8.self)])
    }

    /// Bank answers due at `now` (ms), earliest first; each is deleted as it is returned.
    static func takeDueBankAnswers(_ db: Database, at now: Int64, limit: Int) throws -> [(answer: PayoutConfirmation, key: String, kind: String)] {
        let rows = try Row.fetchAll(db.hotStatement("SELECT * FROM bank_answer WHERE due_at <= ? ORDER BY due_at, sequence LIMIT ?"),
                                    arguments: [now, limit])
        let delete = try db.hotStatement("DELETE FROM bank_answer WHERE sequence = ?")
        return try rows.map { row in
            try delete.execute(arguments: [row["sequence"] as Int64])
            let json: String = row["confirmation"]
            return (try Wire.decode(PayoutConfirmation.self, from: Data(json.utf8)), row["message_key"], row["kind"])
        }
    }

    struct PendingAnswer {
        var sequence: Int64 = 0
        let copy: Int
        let dueAt: Int64
        let withheld: Bool
        let method: String
        let key: String?
        let confirmation: ChannelConfirmation
    }

    static func insert(_ db: Database, _ p: PendingAnswer) throws {
        let confirmation = String(decoding: try Wire.encode(p.confirmation), as: UTF8.self)
        try db.hotStatement("""
            INSERT INTO pending_answer (channel_request_id, copy, due_at, withheld, method, message_key, confirmation)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            """).run { row in
                row.text(p.confirmation.channelRequestId)
                row.int(p.copy)
                row.int(p.dueAt)
                row.bool(p.withheld)
                row.text(p.method)
                row.text(p.key)
                row.text(confirmation)
            }
    }

    /// Answers due at `now` (ms) or before, earliest due first, then in the order they were stored.
    static func due(_ db: Database, at now: Int64, limit: Int) throws -> [PendingAnswer] {
        try Row.fetchAll(db.hotStatement("""
            SELECT * FROM pending_answer WHERE due_at <= ? ORDER BY due_at, sequence LIMIT ?
            """), arguments: [now, limit]).map { row in
            let json: String = row["confirmation"]
            return PendingAnswer(sequence: row["sequence"], copy: row["copy"], dueAt: row["due_at"], withheld: row["withheld"],
                                 method: row["method"], key: row["message_key"],
                                 confirmation: try Wire.decode(ChannelConfirmation.self, from: Data(json.utf8)))
        }
    }

    static func delete(_ db: Database, pending sequence: Int64) throws {
        try db.hotStatement("DELETE FROM pending_answer WHERE sequence = ?").execute(arguments: [sequence])
    }

    /// Drops the not-yet-sent first answer to an instruction; true if there was one.
    static func dropFirstAnswer(_ db: Database, to id: String) throws -> Bool {
        try db.hotStatement("DELETE FROM pending_answer WHERE channel_request_id = ? AND copy = 1").execute(arguments: [id])
        return db.changesCount > 0
    }

    // MARK: statements

    struct StatementLine: Equatable {
        let day: String
        let method: String
        let channelReference: String
        let paymentID: String
        let amount: Int64
        let currency: String
        let fee: Int64
        let type: String
    }

    /// Adds the line for an answered instruction (once) and marks its file stale since `now` (ms)
    /// unless it is stale already.
    static func addStatementLine(_ db: Database, _ line: StatementLine, for id: String, answeredAt: String, now: Int64) throws {
        try db.hotStatement("""
            INSERT INTO statement_line (channel_request_id, day, method, channel_reference, payment_id, amount, currency, fee,
                type, answered_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(channel_request_id) DO NOTHING
            """).run { row in
                row.text(id)
                row.text(line.day)
                row.text(line.method)
                row.text(line.channelReference)
                row.text(line.paymentID)
                row.int(line.amount)
                row.text(line.currency)
                row.int(line.fee)
                row.text(line.type)
                row.text(answeredAt)
            }
        guard db.changesCount == 1 else { return }
        try db.hotStatement("INSERT INTO statement_stale (day, method, since) VALUES (?, ?, ?) ON CONFLICT DO NOTHING").run { row in
            row.text(line.day)
            row.text(line.method)
            row.int(now)
        }
    }

    /// Files stale since `before` (ms) or earlier.
    static func staleStatements(_ db: Database, before: Int64) throws -> [(day: String, method: String)] {
        try Row.fetchAll(db.hotStatement("SELECT day, method FROM statement_stale WHERE since <= ? ORDER BY day, method"),
                         arguments: [before]).map { ($0["day"], $0["method"]) }
    }

    static func statementLines(_ db: Database, day: String, method: String) throws -> [StatementLine] {
        try Row.fetchAll(db.hotStatement("""
            SELECT * FROM statement_line WHERE day = ? AND method = ? ORDER BY sequence
            """), arguments: [day, method]).map {
            StatementLine(day: $0["day"], method: $0["method"], channelReference: $0["channel_reference"],
                          paymentID: $0["payment_id"], amount: $0["amount"], currency: $0["currency"], fee: $0["fee"],
                          type: $0["type"])
        }
    }

    static func markWritten(_ db: Database, day: String, method: String) throws {
        try db.hotStatement("DELETE FROM statement_stale WHERE day = ? AND method = ?").execute(arguments: [day, method])
    }
}
