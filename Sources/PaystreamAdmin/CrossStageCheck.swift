import Foundation
import GRDB
import PaystreamStore

/// Money conserved across stages: for every payment to a merchant, what the payment stage
/// captured minus what it refunded equals what settlement booked minus what it reversed, in the
/// same currency, and what the payment stage handed over as repayments of it equals what
/// settlement counts as repaid. Reads every shard of both stages, read-only.
public enum CrossStageCheck {
    struct Side {
        var currency: String
        var net: Int64
        var captured: Int64
        var refunded: Int64
        var repaid: Int64
    }

    /// Every difference, one sentence each, naming the payment; empty when the stages agree. A
    /// payment in flight between the stages (captured, not booked yet) shows as a difference:
    /// check a pipeline that has drained.
    public static func problems(stateDirectory: String) throws -> [String] {
        var payments: [String: Side] = [:]
        for path in ShardStore.paths(stateDirectory: stateDirectory, stage: "payment-worker") {
            try ShardStore.readOnly(path: path) { db in
                guard try db.tableExists("payment") else { return }
                for row in try Row.fetchAll(db, sql: """
                    SELECT payer_id, payment_id, currency, captured, refunded FROM payment
                    WHERE type = 'payment' AND merchant_id != '' AND captured > 0
                    """) {
                    let captured: Int64 = row["captured"], refunded: Int64 = row["refunded"]
                    payments[key(row["payer_id"], row["payment_id"])] = Side(currency: row["currency"], net: captured - refunded,
                                                                            captured: captured, refunded: refunded, repaid: 0)
                }
                guard try db.tableExists("repayment_allocation") else { return }
                for row in try Row.fetchAll(db, sql: """
                    SELECT p.payer_id, a.payment_id, sum(a.amount) AS repaid FROM repayment_allocation a
                    JOIN payment p ON p.payment_id = a.payment_id GROUP BY p.payer_id, a.payment_id
                    """) {
                    payments[key(row["payer_id"], row["payment_id"])]?.repaid = row["repaid"]
                }
            }
        }
        var settled: [String: Side] = [:]
        for path in ShardStore.paths(stateDirectory: stateDirectory, stage: "settlement-worker") {
            try ShardStore.readOnly(path: path) { db in
                guard try db.tableExists("settlement_line") else { return }
                for row in try Row.fetchAll(db, sql: """
                    SELECT payer_id, payment_id, currency, gross, reversed, repaid FROM settlement_line WHERE payer_id != ''
                    """) {
                    let gross: Int64 = row["gross"], reversed: Int64 = row["reversed"]
                    settled[key(row["payer_id"], row["payment_id"])] = Side(currency: row["currency"], net: gross - reversed,
                                                                           captured: gross, refunded: reversed, repaid: row["repaid"])
                }
            }
        }
        var problems: [String] = []
        for id in Set(payments.keys).union(settled.keys).sorted() {
            let parts = id.split(separator: "\u{0}", omittingEmptySubsequences: false)
            let name = "payment \(parts[1]) of \(parts[0])"
            switch (payments[id], settled[id]) {
            case (let paid?, nil):
                problems.append("\(name): the payment stage captured \(paid.captured) − refunded \(paid.refunded) = \(paid.net) "
                    + "\(paid.currency); settlement booked nothing")
            case (nil, let booked?):
                problems.append("\(name): settlement booked \(booked.captured) − reversed \(booked.refunded) = \(booked.net) "
                    + "\(booked.currency); the payment stage captured nothing")
            case (let paid?, let booked?):
                if paid.currency != booked.currency || paid.net != booked.net {
                    problems.append("\(name): the payment stage captured \(paid.captured) − refunded \(paid.refunded) = \(paid.net) "
                        + "\(paid.currency); settlement booked \(booked.captured) − reversed \(booked.refunded) = \(booked.net) \(booked.currency)")
                }
                if paid.repaid != booked.repaid {
                    problems.append("\(name): the payment stage handed over \(paid.repaid) \(paid.currency) of repayments; "
                        + "settlement counts \(booked.repaid) repaid")
                }
            case (nil, nil): break
            }
        }
        return problems
    }

    private static func key(_ payer: String, _ payment: String) -> String { payer + "\u{0}" + payment }
}
