import Foundation
import GRDB
import PaystreamDomain
import PaystreamWire
import PaymentWorker
import PaystreamStore

/// One payment as the shards under a state directory hold it: the payment-worker's row, the
/// messages it published for it (events, channel instructions, settlement hand-offs, from the
/// outbox), its hold, refunds and payer-side postings, and the settlement-worker's line for it.
/// Read-only; safe while the daemons run.
///
/// The outbox keeps sent rows for its retention only (`outbox.retention`), so old payments may
/// show fewer messages than were published.
struct PaymentReport {
    struct Message {
        let eventID: String
        let topic: String
        let value: Data
        let createdAt: String
        let sentAt: String?
    }

    struct Hold {
        let account: String
        let amount: Int64
        let currency: String
        let resolution: String?
        let postedAmount: Int64?
        let postingID: String?
        let expiresAt: String?
    }

    struct Posting {
        let id: String
        let postedAt: String
        /// (account, signed amount: debits positive, credits negative, currency)
        let entries: [(account: String, amount: Int64, currency: String)]
    }

    struct Settlement {
        let shard: String
        let merchantID: String
        let amount: Int64
        let currency: String
        let fee: Int64
        let net: Int64
        let mode: String
        let sourceEventID: String
        let bookedAt: String
        let postings: [Posting]
        /// The line's terms and what happened to it since, one sentence each.
        var details: [String] = []
    }

    let payer: String
    let paymentID: String
    /// The payment-worker shard the payment (or its rejections) was found in.
    var shard: String?
    var payment: PaymentRecord?
    var messages: [Message] = []
    var hold: Hold?
    var refunds: [PaymentTables.RefundRecord] = []
    var postings: [Posting] = []
    var settlements: [Settlement] = []
    /// Payers who have a payment with this id (when it is not `payer`'s), with their shard.
    var otherPayers: [(payer: String, shard: String)] = []

    var isFound: Bool { payment != nil || !messages.isEmpty }

    enum Failure: Error, CustomStringConvertible {
        case noShards(String)
        var description: String {
            switch self { case .noShards(let directory): "no payment-worker shards under \(directory)" }
        }
    }

    /// Searches every payment-worker shard for (`payer`, `paymentID`), then every
    /// settlement-worker shard for its settlement.
    static func gather(stateDirectory: String, payer: String, paymentID: String) throws -> PaymentReport {
        let shards = ShardStore.paths(stateDirectory: stateDirectory, stage: "payment-worker")
        guard !shards.isEmpty else { throw Failure.noShards(stateDirectory) }
        var report = PaymentReport(payer: payer, paymentID: paymentID)
        for path in shards {
            let name = "payment-worker/\((path as NSString).lastPathComponent)"
            try ShardStore.readOnly(path: path) { db in
                guard try db.tableExists("payment") else { return }
                let payment = try PaymentTables.payment(db, id: paymentID)
                if let payment, payment.payerID != payer {
                    report.otherPayers.append((payment.payerID, name))
                    // Its rejections (a request by `payer` naming someone else's payment) are still `payer`'s.
                    let rejections = try messages(db, paymentID: paymentID, payer: payer, ownPayment: false)
                    if !rejections.isEmpty { (report.shard, report.messages) = (name, report.messages + rejections) }
                    return
                }
                let found = try messages(db, paymentID: paymentID, payer: payer, ownPayment: payment != nil)
                guard payment != nil || !found.isEmpty else { return }
                report.shard = name
                report.payment = payment
                report.messages += found
                guard let payment else { return }
                report.hold = try hold(db, id: "auth:\(payment.paymentID)")
                report.refunds = try PaymentTables.refunds(db, paymentID: paymentID)
                let postingIDs = ["capture:\(paymentID)", "late_capture:\(paymentID)", "late_capture_reversal:\(paymentID)"]
                    + report.refunds.flatMap { ["refund:\($0.refundID)", "refund_failed:\($0.refundID)"] }
                report.postings = try payerPostings(db, ids: postingIDs)
            }
        }
        guard let payment = report.payment else { return report }
        let idParts = MessageID.part(payer) + ":" + MessageID.part(paymentID)
        for path in ShardStore.paths(stateDirectory: stateDirectory, stage: "settlement-worker") {
            let name = "settlement-worker/\((path as NSString).lastPathComponent)"
            try ShardStore.readOnly(path: path) { db in
                if try db.tableExists("settlement_line") {
                    if let found = try line(db, shard: name, payer: payer, paymentID: paymentID, idParts: idParts) {
                        report.settlements.append(found)
                    }
                    return
                }
                guard try db.tableExists("settlement") else { return }
                // Rows are (payer_id, payment_id); a row booked before the payer was stored has
                // payer_id '' and is told apart by its merchant.
                let hasPayer = try db.columns(in: "settlement").contains { $0.name == "payer_id" }
                let row = hasPayer
                    ? try Row.fetchOne(db, sql: "SELECT * FROM settlement WHERE payment_id = ? AND payer_id IN (?, '') ORDER BY payer_id DESC",
                                       arguments: [paymentID, payer])
                    : try Row.fetchOne(db, sql: "SELECT *, '' AS payer_id FROM settlement WHERE payment_id = ?", arguments: [paymentID])
                guard let row else { return }
                let merchant: String = row["merchant_id"]
                let storedPayer: String = row["payer_id"]
                if storedPayer.isEmpty, merchant != payment.merchantID { return }
                let legacy = storedPayer.isEmpty
                let booking = legacy ? "booking:\(paymentID)" : "booking:\(idParts)"
                let refunds = legacy ? "refund:sr:\(paymentID):refund:" : "refund:sr:\(idParts):refund:"
                report.settlements.append(Settlement(
                    shard: name, merchantID: merchant, amount: row["amount"], currency: row["currency"], fee: row["fee"],
                    net: row["net"], mode: row["mode"], sourceEventID: row["source_event_id"], bookedAt: row["booked_at"],
                    postings: try settlementPostings(db, ids: [booking], prefixes: [refunds])))
            }
        }
        return report
    }

    /// The settlement line of (`payer`, `paymentID`) in a migrated settlement shard: its terms,
    /// parts, installments, and every posting made for it.
    private static func line(_ db: Database, shard: String, payer: String, paymentID: String, idParts: String) throws -> Settlement? {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM settlement_line WHERE payer_id = ? AND payment_id = ?",
                                         arguments: [payer, paymentID]) else { return nil }
        let currency: String = row["currency"], settled: String = row["settlement_currency"]
        let parts = try Row.fetchAll(db, sql: "SELECT * FROM settlement_part WHERE payer_id = ? AND payment_id = ? ORDER BY position",
                                     arguments: [payer, paymentID])
        func part(_ kind: String) -> Int64 { parts.filter { ($0["kind"] as String) == kind }.reduce(0) { $0 + ($1["booked"] as Int64) } }
        var details = ["terms: \(row["pricing"] as String)"]
        if let fx: String = row["fx"] { details.append("fx: \(fx)") }
        for part in parts {
            let kind: String = part["kind"], party: String = part["party"]
            details.append("  \(kind)\(party.isEmpty ? "" : " \(party)"): booked \(amount(part["booked"] as Int64, currency))"
                + (part["settled_currency"] as String != currency || row["fx"] != nil
                    ? " (\(amount(part["booked_settled"] as Int64, part["settled_currency"])))" : "")
                + ", reversed \(amount(part["reversed"] as Int64, currency)) on \(part["account"] as String)")
        }
        details.append("reversed \(amount(row["reversed"] as Int64, currency)), repaid \(amount(row["repaid"] as Int64, currency))"
            + ((row["installment_financing"] as String?).map { ", installments financed \($0)" } ?? ""))
        for installment in try Row.fetchAll(db, sql: "SELECT * FROM installment WHERE payer_id = ? AND payment_id = ? ORDER BY number",
                                            arguments: [payer, paymentID]) {
            details.append("  installment \(installment["number"] as Int) due \(installment["due_date"] as String): "
                + "\(amount(installment["amount"] as Int64, currency)), paid \(amount(installment["paid"] as Int64, currency)), "
                + "\(installment["status"] as String)")
        }
        let releases = try Row.fetchAll(db, sql: "SELECT * FROM settlement_release WHERE payer_id = ? AND payment_id = ? ORDER BY id",
                                        arguments: [payer, paymentID])
        for release in releases {
            details.append("  \(amount(release["amount"] as Int64, settled)) for the merchant, available on \(release["available_on"] as String): "
                + "\(release["status"] as String)")
        }
        let postings = try settlementPostings(db, ids: ["booking:\(idParts)"] + releases.map { "available:\($0["id"] as Int64)" },
                                              prefixes: ["refund:sr:\(idParts):refund:", "repayment:sr:\(idParts):repayment:"])
        return Settlement(shard: shard, merchantID: row["merchant_id"], amount: row["gross"], currency: currency, fee: part("fee"),
                          net: part("merchant"), mode: row["mode"], sourceEventID: row["source_event_id"], bookedAt: row["booked_at"],
                          postings: postings, details: details)
    }

    private static func settlementPostings(_ db: Database, ids: [String], prefixes: [String]) throws -> [Posting] {
        let conditions = Array(repeating: "e.posting_id = ?", count: ids.count)
            + Array(repeating: "substr(e.posting_id, 1, length(?)) = ?", count: prefixes.count)
        let rows = try Row.fetchAll(db, sql: """
            SELECT e.posting_id, e.account_id AS account, e.currency, e.amount, p.posted_at
            FROM ledger_entry e JOIN ledger_posting p ON p.posting_id = e.posting_id
            WHERE \(conditions.joined(separator: " OR ")) ORDER BY p.seq, e.rowid
            """, arguments: StatementArguments(ids + prefixes.flatMap { [$0, $0] }))
        return group(rows)
    }

    /// The outbox rows about the payment when it is the shard's: its events
    /// (`pe:<payer>:<payment>:…`), channel instructions (`cr:<payment>:…`) and settlement
    /// hand-offs (`sr:<payer>:<payment>:…`), with the ids of earlier versions (`pe:<payment>:…`,
    /// `sr:<payment>:…`); and the rejections (`rj:…`) of `payer`'s requests that name it.
    private static func messages(_ db: Database, paymentID: String, payer: String, ownPayment: Bool) throws -> [Message] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let needle = #""payment_id":"# + String(decoding: try encoder.encode(paymentID), as: UTF8.self)
        let payment = MessageID.part(payer) + ":" + MessageID.part(paymentID)
        let prefixes = ownPayment ? ["pe:\(payment):", "sr:\(payment):", "cr:\(paymentID):", "pe:\(paymentID):", "sr:\(paymentID):"] : []
        let byPrefix = prefixes.map { _ in "substr(event_id, 1, length(?)) = ?" } + ["(substr(event_id, 1, 3) = 'rj:' AND instr(CAST(value AS TEXT), ?) > 0)"]
        let rows = try Row.fetchAll(db, sql: """
            SELECT sequence, event_id, topic, value, created_at, sent_at FROM outbox
            WHERE \(byPrefix.joined(separator: " OR ")) ORDER BY sequence
            """, arguments: StatementArguments(prefixes.flatMap { [$0, $0] } + [needle]))
        // Rows up to the outbox's watermark are published; they carry no time of their own.
        let through = try RuntimeTables.storedWatermark(db)
        let watermarkAt = through > 0 ? try String.fetchOne(db, sql: "SELECT updated_at FROM outbox_published") : nil
        return rows.compactMap { row in
            let sequence: Int64 = row["sequence"]
            let sentAt: String? = row["sent_at"] ?? (sequence <= through ? "by \(watermarkAt ?? "?")" : nil)
            let message = Message(eventID: row["event_id"], topic: row["topic"], value: row["value"],
                                  createdAt: row["created_at"], sentAt: sentAt)
            if message.eventID.hasPrefix("rj:") || message.eventID.hasPrefix("pe:") {
                guard let event = try? Wire.decode(PaymentEvent.self, from: message.value),
                      event.paymentId == paymentID, event.payerId == payer else { return nil }
            }
            return message
        }
    }

    private static func hold(_ db: Database, id: String) throws -> Hold? {
        try Row.fetchOne(db, sql: "SELECT * FROM ledger_hold WHERE hold_id = ?", arguments: [id]).map { row in
            Hold(account: row["account_id"], amount: row["amount"], currency: row["currency"], resolution: row["resolution"],
                 postedAmount: row["posted_amount"], postingID: row["posting_id"], expiresAt: row["expires_at"])
        }
    }

    private static func payerPostings(_ db: Database, ids: [String]) throws -> [Posting] {
        guard !ids.isEmpty else { return [] }
        let marks = Array(repeating: "?", count: ids.count).joined(separator: ", ")
        let rows = try Row.fetchAll(db, sql: """
            SELECT p.posting_id, p.posted_at, e.account_id AS account, e.currency, e.amount
            FROM ledger_posting p JOIN ledger_entry e ON e.posting_id = p.posting_id
            WHERE p.posting_id IN (\(marks)) ORDER BY p.seq, e.rowid
            """, arguments: StatementArguments(ids))
        return group(rows)
    }

    /// Rows of (posting_id, posted_at, account, currency, amount), in order, as postings.
    private static func group(_ rows: [Row]) -> [Posting] {
        var postings: [Posting] = []
        for row in rows {
            let id: String = row["posting_id"]
            let entry = (account: row["account"] as String, amount: row["amount"] as Int64, currency: row["currency"] as String)
            if let last = postings.last, last.id == id {
                postings[postings.count - 1] = Posting(id: id, postedAt: last.postedAt, entries: last.entries + [entry])
            } else {
                postings.append(Posting(id: id, postedAt: row["posted_at"], entries: [entry]))
            }
        }
        return postings
    }

    // MARK: text

    var text: String {
        var lines: [String] = []
        if let payment {
            lines.append("payment \(paymentID) of payer \(payer) (\(shard ?? "?"))")
            lines.append("  status:      \(payment.status.rawValue) (sequence \(payment.sequence))")
            lines.append("  type:        \(payment.type.rawValue), funded by \(payment.funding.rawValue)")
            lines.append("  amount:      \(Self.amount(payment.amount, payment.currency)) by \(payment.method) on \(payment.channel)")
            lines.append("  captured:    \(Self.amount(payment.captured, payment.currency))\(payment.capturedAt.map { " at \($0)" } ?? "")")
            lines.append("  refunded:    \(Self.amount(payment.refunded, payment.currency))")
            lines.append("  request:     \(payment.requestID)\(payment.orderID.map { ", order \($0)" } ?? "")")
            lines.append("  merchant:    \(payment.merchantID ?? "-")")
            lines.append("  settlement:  \(payment.settlementMode)\(payment.installments.map { ", \($0) installments" } ?? "")"
                         + (payment.splits.isEmpty ? "" : ", splits " + payment.splits.map { "\($0.partyId) \($0.amount)" }.joined(separator: ", ")))
            lines.append("  channel ref: \(payment.channelReference ?? "-")")
            lines.append("  created:     \(payment.createdAt), updated \(payment.updatedAt)")
            if let next = payment.nextCheckAt { lines.append("  next check:  \(next)") }
        } else {
            lines.append("payment \(paymentID) of payer \(payer) (\(shard ?? "?")): no payment stored; every request for it was rejected")
        }
        lines.append("")
        lines.append("published (outbox, in order):")
        if messages.isEmpty { lines.append("  none") }
        for message in messages {
            lines.append("  \(message.eventID)  \(message.topic)  \(Self.summary(of: message))  \(message.sentAt.map { "sent \($0)" } ?? "NOT SENT YET")")
        }
        guard payment != nil else { return lines.joined(separator: "\n") }
        lines.append("")
        lines.append("hold:")
        if let hold {
            let resolution: String
            switch hold.resolution {
            case "posted": resolution = "posted \(Self.amount(hold.postedAmount ?? 0, hold.currency)) by \(hold.postingID ?? "?")"
            case let other?: resolution = other
            case nil: resolution = "pending\(hold.expiresAt.map { ", expires \($0)" } ?? "")"
            }
            lines.append("  auth:\(paymentID)  on \(hold.account)  \(Self.amount(hold.amount, hold.currency))  \(resolution)")
        } else {
            lines.append("  none")
        }
        if !refunds.isEmpty {
            lines.append("")
            lines.append("refunds:")
            for refund in refunds {
                lines.append("  \(refund.refundID)  \(Self.amount(refund.amount, refund.currency))  \(refund.status)\(refund.reason.map { " (\($0))" } ?? "")")
            }
        }
        lines.append("")
        lines.append("payer-side postings:")
        lines += Self.render(postings)
        lines.append("")
        lines.append("settlement:")
        if settlements.isEmpty { lines.append("  none in the settlement-worker shards") }
        for line in settlements {
            lines.append("  booked \(line.bookedAt) (\(line.shard)) for merchant \(line.merchantID), mode \(line.mode), from \(line.sourceEventID)")
            lines.append("  amount \(Self.amount(line.amount, line.currency)), fee \(Self.amount(line.fee, line.currency)), net \(Self.amount(line.net, line.currency))")
            lines += line.details.map { "  \($0)" }
            lines += Self.render(line.postings)
        }
        return lines.joined(separator: "\n")
    }

    private static func render(_ postings: [Posting]) -> [String] {
        guard !postings.isEmpty else { return ["  none"] }
        var lines: [String] = []
        for posting in postings {
            lines.append("  \(posting.id)  \(posting.postedAt)")
            for entry in posting.entries {
                lines.append("    \(entry.amount > 0 ? "debit " : "credit")  \(entry.account)  \(amount(entry.amount.magnitude, entry.currency))")
            }
        }
        return lines
    }

    private static func summary(of message: Message) -> String {
        if let event = try? Wire.decode(PaymentEvent.self, from: message.value), event.schema == PaymentEvent.schemaName {
            return "#\(event.sequence) \(event.type)\(event.reason.map { " (\($0))" } ?? "")"
        }
        if let request = try? Wire.decode(ChannelRequest.self, from: message.value), request.schema == ChannelRequest.schemaName {
            return "\(request.requestType) \(amount(request.amount, request.currency))"
        }
        if let handoff = try? Wire.decode(SettlementRequest.self, from: message.value), handoff.schema == SettlementRequest.schemaName {
            return "\(handoff.type) \(amount(handoff.amount, handoff.currency))"
        }
        return "\(message.value.count) bytes"
    }

    static func amount<N: BinaryInteger>(_ minor: N, _ code: String) -> String {
        guard let currency = Currency.named(code), let units = Int64(exactly: minor) else { return "\(minor) \(code)" }
        return Money(minorUnits: units, currency: currency).formatted
    }
}
