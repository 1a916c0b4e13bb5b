import Foundation
import GRDB
import PaystreamDomain
import PaystreamWire
import PaystreamStore
import SettlementWorker

/// Every payout itemized to the minor unit: for each line of its batch, the payment or refund it
/// comes from with that payment's breakdown (gross, fee, commission, splits, FX, the payee's
/// net) and the day the money became available. Read from the settlement-worker shards.
public struct PayoutReport: Sendable, Codable {
    public struct Line: Sendable, Codable, Hashable, WireKeyed {
        /// `release`, `refund`, `payout_failed` or `payout_returned`.
        public var kind: String
        public var paymentId: String?
        public var orderId: String?
        public var payerId: String?
        /// `payment` or `refund` (the refund's part), or the payout a failed or returned line comes from.
        public var type: String
        /// The payment's gross, fee and commission (the refund's, for a refund), in `paymentCurrency`.
        public var gross: Int64?
        public var fee: Int64?
        public var commission: Int64?
        public var splits: [Split]?
        public var paymentCurrency: String?
        /// `BASE/QUOTE rate (source, as of)` when the payment was converted.
        public var fx: String?
        /// The payee's part of the payment (or of the refund), in the payout's currency.
        public var net: Int64?
        /// What this line adds to the payout (negative for a refund).
        public var amount: Int64
        public var availableOn: String
        public var reference: String?

        enum CodingKeys: String, CodingKey {
            case kind
            case paymentId = "payment_id"
            case orderId = "order_id"
            case payerId = "payer_id"
            case type, gross, fee, commission, splits
            case paymentCurrency = "payment_currency"
            case fx, net, amount
            case availableOn = "available_on"
            case reference
        }
    }

    public struct Payout: Sendable, Codable, Hashable, WireKeyed {
        public var payoutId: String
        public var batchId: String
        public var payeeId: String
        public var payeeRole: String
        public var merchantId: String
        public var currency: String
        public var amount: Int64
        public var status: String
        public var reason: String?
        public var payoutDate: String
        public var closedAt: String
        public var lines: [Line]

        enum CodingKeys: String, CodingKey {
            case payoutId = "payout_id"
            case batchId = "batch_id"
            case payeeId = "payee_id"
            case payeeRole = "payee_role"
            case merchantId = "merchant_id"
            case currency, amount, status, reason
            case payoutDate = "payout_date"
            case closedAt = "closed_at"
            case lines
        }

        /// The lines sum to the payout: anything else is a problem to report.
        public var linesAddUp: Bool { lines.reduce(Int64(0)) { $0 + $1.amount } == amount }
    }

    public var payouts: [Payout]

    /// The payouts under `stateDirectory`, optionally of one payee and from/to payout dates
    /// (inclusive), by payout date then id.
    public static func gather(stateDirectory: String, payee: String? = nil, from: String? = nil, to: String? = nil) throws -> PayoutReport {
        var payouts: [Payout] = []
        for path in ShardStore.paths(stateDirectory: stateDirectory, stage: "settlement-worker") {
            try ShardStore.readOnly(path: path) { db in
                guard try db.tableExists("payout_batch") else { return }
                let batches = try Row.fetchAll(db, sql: """
                    SELECT * FROM payout_batch WHERE status = 'closed' AND (? IS NULL OR payee = ?)
                        AND (? IS NULL OR payout_date >= ?) AND (? IS NULL OR payout_date <= ?) ORDER BY payout_date, id
                    """, arguments: [payee, payee, from, from, to, to])
                for batch in batches {
                    let id: Int64 = batch["id"], role: String = batch["role"], party: String = batch["payee"]
                    let items = try Row.fetchAll(db, sql: "SELECT * FROM payee_item WHERE batch_id = ? ORDER BY available_at, id", arguments: [id])
                    payouts.append(Payout(
                        payoutId: batch["payout_id"], batchId: "b:\(MessageID.part(batch["merchant_id"])):\(id)", payeeId: party,
                        payeeRole: role, merchantId: batch["merchant_id"], currency: batch["currency"], amount: batch["amount"],
                        status: batch["payout_status"] ?? "sent", reason: batch["payout_reason"], payoutDate: batch["payout_date"],
                        closedAt: batch["closed_at"], lines: try items.map { try line($0, role: role, payee: party, db: db) }))
                }
            }
        }
        return PayoutReport(payouts: payouts.sorted { ($0.payoutDate, $0.payoutId) < ($1.payoutDate, $1.payoutId) })
    }

    private static func line(_ item: Row, role: String, payee: String, db: Database) throws -> Line {
        let kind: String = item["kind"]
        var line = Line(kind: kind, paymentId: item["payment_id"], orderId: nil, payerId: item["payer_id"],
                        type: kind == "release" ? "payment" : kind == "refund" ? "refund" : "payout", amount: item["amount"],
                        availableOn: item["available_on"], reference: item["reference"])
        guard let payer = line.payerId, let payment = line.paymentId,
              let settled = try Row.fetchOne(db, sql: "SELECT * FROM settlement_line WHERE payer_id = ? AND payment_id = ?",
                                             arguments: [payer, payment]) else { return line }
        line.orderId = settled["order_id"]
        line.paymentCurrency = settled["currency"]
        if let fx: String = settled["fx"], let snapshot = try? Wire.decodePlain(FXSnapshot.self, from: Data(fx.utf8)) {
            line.fx = "\(snapshot.base)/\(snapshot.quote) \(snapshot.rate) (\(snapshot.source), as of \(snapshot.asOf))"
        }
        let kindOfPayee = role == "merchant" ? "merchant" : "supplier"
        if kind == "refund", let reference = line.reference,
           let reversal = try Row.fetchOne(db, sql: "SELECT * FROM settlement_reversal WHERE event_id = ?", arguments: [reference]) {
            let parts = try Wire.decodePlain([SettlementTables.ReversedPart].self, from: Data((reversal["parts"] as String).utf8))
            line.gross = reversal["amount"]
            line.fee = parts.filter { $0.kind == "fee" }.reduce(0) { $0 + $1.amount }
            line.commission = parts.filter { $0.kind == "commission" }.reduce(0) { $0 + $1.amount }
            line.splits = parts.filter { $0.kind == "supplier" }.map { Split(partyId: $0.party, amount: $0.amount) }
            line.net = parts.first { $0.kind == kindOfPayee && $0.party == payee }?.settled
            return line
        }
        let parts = try Row.fetchAll(db, sql: "SELECT * FROM settlement_part WHERE payer_id = ? AND payment_id = ? ORDER BY position",
                                     arguments: [payer, payment])
        line.gross = settled["gross"]
        line.fee = parts.filter { ($0["kind"] as String) == "fee" }.reduce(0) { $0 + ($1["booked"] as Int64) }
        line.commission = parts.filter { ($0["kind"] as String) == "commission" }.reduce(0) { $0 + ($1["booked"] as Int64) }
        line.splits = parts.filter { ($0["kind"] as String) == "supplier" }.map { Split(partyId: $0["party"], amount: $0["booked"]) }
        line.net = parts.first { ($0["kind"] as String) == kindOfPayee && ($0["party"] as String) == payee }.map { $0["booked_settled"] as Int64 }
        return line
    }

    // MARK: formats

    static func money(_ minor: Int64?, _ code: String?) -> String {
        guard let minor else { return "-" }
        guard let code, let currency = Currency.named(code) else { return "\(minor)" }
        return Money(minorUnits: minor, currency: currency).formatted
    }

    /// One block per payout: its header, then a table of its lines and their total.
    public var table: String {
        guard !payouts.isEmpty else { return "no payouts" }
        var out: [String] = []
        for payout in payouts {
            out.append("payout \(payout.payoutId) (\(payout.batchId)) to \(payout.payeeRole) \(payout.payeeId) of \(payout.merchantId): "
                + "\(Self.money(payout.amount, payout.currency)), \(payout.status)\(payout.reason.map { " (\($0))" } ?? ""), "
                + "payout date \(payout.payoutDate)")
            var rows = [["TYPE", "PAYMENT", "ORDER", "AVAILABLE", "GROSS", "FEE", "COMMISSION", "SPLITS", "FX", "NET", "IN PAYOUT"]]
            for line in payout.lines {
                let splits = (line.splits ?? []).map { "\($0.partyId) \(Self.money($0.amount, line.paymentCurrency))" }.joined(separator: ", ")
                rows.append([line.type, line.paymentId ?? line.reference ?? "-", line.orderId ?? "-", line.availableOn,
                             Self.money(line.gross, line.paymentCurrency), Self.money(line.fee, line.paymentCurrency),
                             Self.money(line.commission, line.paymentCurrency), splits.isEmpty ? "-" : splits, line.fx ?? "-",
                             Self.money(line.net, payout.currency), Self.money(line.amount, payout.currency)])
            }
            rows.append(["total", "", "", "", "", "", "", "", "", "", Self.money(payout.lines.reduce(0) { $0 + $1.amount }, payout.currency)
                         + (payout.linesAddUp ? "" : " ≠ payout!")])
            out += PaystreamAdmin.table(rows).split(separator: "\n").map { "  " + $0 }
            out.append("")
        }
        return out.joined(separator: "\n")
    }

    /// One row per line, the payout's columns repeated; amounts in minor units.
    public var csv: String {
        func field(_ text: String) -> String {
            text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
        }
        var rows = ["payout_id,batch_id,payee_role,payee_id,merchant_id,currency,payout_amount,status,payout_date,type,payment_id,order_id,"
            + "payer_id,available_on,payment_currency,gross,fee,commission,splits,fx,net,amount,reference"]
        for payout in payouts {
            for line in payout.lines {
                let splits = (line.splits ?? []).map { "\($0.partyId):\($0.amount)" }.joined(separator: ";")
                func number(_ value: Int64?) -> String { value.map { String($0) } ?? "" }
                var fields: [String] = [payout.payoutId, payout.batchId, payout.payeeRole, payout.payeeId, payout.merchantId, payout.currency]
                fields += [String(payout.amount), payout.status, payout.payoutDate, line.type, line.paymentId ?? "", line.orderId ?? ""]
                fields += [line.payerId ?? "", line.availableOn, line.paymentCurrency ?? "", number(line.gross), number(line.fee)]
                fields += [number(line.commission), splits, line.fx ?? "", number(line.net), String(line.amount), line.reference ?? ""]
                rows.append(fields.map(field).joined(separator: ","))
            }
        }
        return rows.joined(separator: "\n") + "\n"
    }

    public var json: String {
        (try? String(decoding: Wire.encode(payouts), as: UTF8.self)) ?? "[]"
    }
}
