import Foundation
import GRDB
import PaystreamDomain
import PaystreamLedger

/// The settlement shard's own invariants, beyond the ledger's: every line's parts add up to its
/// gross, reversals stay within what was booked (a fully reversed part gives back exactly what it
/// was booked, in both currencies), and the balances of the merchant-side accounts are exactly what
/// the lines say they should be. `paystream verify` and the tests run it after every scenario.
public enum SettlementAudit {
    /// The accounts that hold a payee's money, by stage: `<role>_<stage>:<payee>:<CCY>`.
    static let payeeStages: Set<String> = ["pending", "deferred", "available", "payout", "payable"]

    /// Every problem found, one sentence each; empty when the shard is sound.
    public static func problems(_ db: Database) throws -> [String] {
        var problems = try LedgerTables.verify(db).map { "ledger: \($0)" }
        guard try db.tableExists("settlement_line") else { return problems }

        var expected: [String: Int64] = [:]  // account id → balance the lines call for
        let lines = try Row.fetchAll(db, sql: "SELECT * FROM settlement_line ORDER BY payer_id, payment_id")
        var partsByLine: [String: [Row]] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT * FROM settlement_part ORDER BY payer_id, payment_id, position") {
            partsByLine["\(row["payer_id"] as String)\u{0}\(row["payment_id"] as String)", default: []].append(row)
        }
        for line in lines {
            let payer: String = line["payer_id"], payment: String = line["payment_id"], merchant: String = line["merchant_id"]
            let name = "payment \(payment) of \(payer)"
            let gross: Int64 = line["gross"], reversed: Int64 = line["reversed"], repaid: Int64 = line["repaid"]
            let currency: String = line["currency"], mode: String = line["mode"], source: String = line["source_account"]
            let keepsFee = (line["pricing"] as String).contains("\"fee_on_refund\":\"keep\"")
            let parts = partsByLine["\(payer)\u{0}\(payment)"] ?? []
            let booked = parts.reduce(Int64(0)) { $0 + ($1["booked"] as Int64) }
            let partsReversed = parts.reduce(Int64(0)) { $0 + ($1["reversed"] as Int64) }
            if booked != gross { problems.append("\(name): parts sum to \(booked), gross is \(gross)") }
            if partsReversed != reversed { problems.append("\(name): parts reversed \(partsReversed), the line says \(reversed)") }
            if reversed > gross { problems.append("\(name): reversed \(reversed), more than the gross \(gross)") }
            let fee = parts.first { ($0["kind"] as String) == "fee" }.map { $0["booked"] as Int64 } ?? 0
            for part in parts {
                let kind: String = part["kind"], partBooked: Int64 = part["booked"], partReversed: Int64 = part["reversed"]
                let bookedSettled: Int64 = part["booked_settled"], reversedSettled: Int64 = part["reversed_settled"]
                let allowance = kind == "merchant" && keepsFee ? fee : 0
                if partReversed > partBooked + allowance {
                    problems.append("\(name): the \(kind) part reversed \(partReversed) of \(partBooked) booked")
                }
                if partReversed == partBooked && reversedSettled != bookedSettled {
                    problems.append("\(name): the \(kind) part is reversed in full but gave back \(reversedSettled) of \(bookedSettled)")
                }
                if allowance == 0 && reversedSettled > bookedSettled {
                    problems.append("\(name): the \(kind) part gave back \(reversedSettled) of \(bookedSettled) booked")
                }
                let account: String = part["account"]
                let left = bookedSettled - reversedSettled
                if kind == "merchant" || kind == "supplier" {
                    // Wherever the payee's money sits now: deferred, pending, available or on its way.
                    expected["\(kind):\(part["party"] as String):\(part["settled_currency"] as String)", default: 0] += left
                } else {
                    expected[account, default: 0] += left
                }
            }
            if mode != "prepaid" && !source.isEmpty {
                expected["\(source):\(currency)", default: 0] += gross - reversed - repaid
            }
        }

        var actual: [String: Int64] = [:]
        var balances: [String: Int64] = [:]  // payee accounts
        for row in try Row.fetchAll(db, sql: "SELECT account_id, posted FROM ledger_account") {
            let id: String = row["account_id"], posted: Int64 = row["posted"]
            let fields = id.split(separator: ":", omittingEmptySubsequences: false)
            guard let kind = fields.first else { continue }
            if fields.count == 3, let role = kind.split(separator: "_").first, role == "merchant" || role == "supplier",
               Self.payeeStages.contains(String(kind.dropFirst(role.count + 1))) {
                actual["\(role):\(fields[1]):\(fields[2])", default: 0] += posted
                balances[id] = posted
            } else if ["fee_revenue", "commission_revenue", "receivable"].contains(kind) {
                actual[id, default: 0] += posted
            }
        }

        if try db.tableExists("payee_item") {
            // What is available to a payee is exactly its lines no batch has paid out; what is on
            // its way is exactly its closed batches.
            var open: [String: Int64] = [:]
            for row in try Row.fetchAll(db, sql: """
                SELECT role, payee, currency, sum(amount) AS total FROM payee_item WHERE batch_id IS NULL GROUP BY role, payee, currency
                """) {
                open["\(row["role"] as String)_available:\(row["payee"] as String):\(row["currency"] as String)"] = row["total"]
            }
            for row in try Row.fetchAll(db, sql: """
                SELECT role, payee, currency, sum(amount) AS total FROM payout_batch WHERE payout_status = 'sent' GROUP BY role, payee, currency
                """) {
                open["\(row["role"] as String)_payout:\(row["payee"] as String):\(row["currency"] as String)"] = row["total"]
            }
            // Paid out: what left for the bank is no longer the payee's.
            for row in try Row.fetchAll(db, sql: """
                SELECT role, payee, currency, sum(amount) AS total FROM payout_batch WHERE payout_status = 'paid' GROUP BY role, payee, currency
                """) {
                let total: Int64 = row["total"]
                open["bank:\(row["currency"] as String)", default: 0] -= total
                let bucket = "\(row["role"] as String):\(row["payee"] as String):\(row["currency"] as String)"
                actual[bucket, default: 0] += total
            }
            for row in try Row.fetchAll(db, sql: "SELECT account_id, posted FROM ledger_account WHERE account_id LIKE 'bank:%'") {
                balances[row["account_id"]] = row["posted"] as Int64
            }
            let accounts = balances.keys.filter { $0.contains("_available:") || $0.contains("_payout:") || $0.hasPrefix("bank:") }
            for account in Set(accounts).union(open.keys).sorted() where (balances[account] ?? 0) != (open[account] ?? 0) {
                problems.append("\(account): the ledger holds \(balances[account] ?? 0), the payee lines and batches call for \(open[account] ?? 0)")
            }
        }

        for key in Set(expected.keys).union(actual.keys).sorted() where (expected[key] ?? 0) != (actual[key] ?? 0) {
            problems.append("\(key): the ledger holds (with what was paid out) \(actual[key] ?? 0), the settlement lines call for \(expected[key] ?? 0)")
        }

        for row in try Row.fetchAll(db, sql: """
            SELECT i.payer_id, i.payment_id, sum(i.paid) AS paid, l.repaid FROM installment i
            JOIN settlement_line l ON l.payer_id = i.payer_id AND l.payment_id = i.payment_id GROUP BY i.payer_id, i.payment_id
            """) where (row["paid"] as Int64) > (row["repaid"] as Int64) {
            problems.append("payment \(row["payment_id"] as String) of \(row["payer_id"] as String): installments paid "
                + "\(row["paid"] as Int64), more than the \(row["repaid"] as Int64) repaid")
        }
        return problems
    }
}
