import Foundation
import GRDB
import PaystreamDomain
import PaystreamWire
import PaystreamRuntime

/// Installment schedules.
extension SettlementTables {
    // MARK: installments

    struct InstallmentRow {
        var number: Int
        var dueDate: String
        var dueAt: String
        var overdueAt: String
        var amount: Int64
        var paid: Int64
        var merchantShare: Int64
        var status: String

        var info: InstallmentInfo {
            InstallmentInfo(number: number, dueDate: dueDate, amount: amount, paid: paid, status: status,
                            merchantShare: merchantShare)
        }
    }

    static func insert(_ db: Database, installments: [InstallmentRow], payer: String, payment: String) throws {
        let statement = try db.hotStatement("""
            INSERT INTO installment (payer_id, payment_id, number, due_date, due_at, overdue_at, amount, paid, merchant_share, status)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        for row in installments {
            try statement.execute(arguments: [payer, payment, row.number, row.dueDate, row.dueAt, row.overdueAt, row.amount, row.paid,
                                              row.merchantShare, row.status])
        }
    }

    static func installments(_ db: Database, payer: String, payment: String) throws -> [InstallmentRow] {
        try Row.fetchAll(db.hotStatement("SELECT * FROM installment WHERE payer_id = ? AND payment_id = ? ORDER BY number"),
                         arguments: [payer, payment]).map(installment(from:))
    }

    static func update(_ db: Database, installment row: InstallmentRow, payer: String, payment: String) throws {
        try db.hotStatement("""
            UPDATE installment SET amount = ?, paid = ?, merchant_share = ?, status = ? WHERE payer_id = ? AND payment_id = ? AND number = ?
            """).execute(arguments: [row.amount, row.paid, row.merchantShare, row.status, payer, payment, row.number])
    }

    /// Installments whose due date has come (`scheduled`) or that are past their grace (`due`):
    /// (payer, payment, installment), oldest first.
    static func timedInstallments(_ db: Database, status: String, now: String, limit: Int) throws -> [(String, String, InstallmentRow)] {
        let column = status == "scheduled" ? "due_at" : "overdue_at"
        return try Row.fetchAll(db.cachedStatement(sql: """
            SELECT * FROM installment WHERE status = ? AND \(column) <= ? ORDER BY \(column), payer_id, payment_id, number LIMIT ?
            """), arguments: [status, now, limit]).map { ($0["payer_id"], $0["payment_id"], installment(from: $0)) }
    }

    private static func installment(from row: Row) -> InstallmentRow {
        InstallmentRow(number: row["number"], dueDate: row["due_date"], dueAt: row["due_at"], overdueAt: row["overdue_at"],
                       amount: row["amount"], paid: row["paid"], merchantShare: row["merchant_share"], status: row["status"])
    }
}
