import ArgumentParser
import Foundation
import PaystreamDomain

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "Print a report from the shards under a state directory.",
        subcommands: [Payouts.self, Reconciliation.self])

    struct Payouts: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Every payout itemized to the minor unit, traced to the payments and refunds in it.",
            discussion: """
                Reads every settlement-worker shard read-only. For each payout (a closed batch): its payee, amount, status \
                and payout date, and one line per payment or refund in it — payment id, order id, type, gross, fee, \
                commission, splits, FX, the payee's net, the day the money became available, and what the line adds to \
                the payout. The lines always sum to the payout; a payout whose lines do not is flagged and the command \
                exits 1. --format table (default), csv (one row per line, amounts in minor units) or json.
                """)

        enum Format: String, ExpressibleByArgument { case table, csv, json }

        @Option(help: "table, csv or json.") var format: Format = .table
        @Option(help: "Only this payee's payouts (a merchant or a supplier id).") var payee: String?
        @Option(help: "First payout date, yyyy-MM-dd.") var from: String?
        @Option(help: "Last payout date, yyyy-MM-dd.") var to: String?
        @Option(name: .customLong("state-dir"), help: "The daemons' state directory (default: $PAYSTREAM_STATE_DIR).")
        var stateDirectory: String?

        func run() throws {
            guard let directory = stateDirectory ?? ProcessInfo.processInfo.environment["PAYSTREAM_STATE_DIR"], !directory.isEmpty else {
                throw ValidationError("no state directory: pass --state-dir or set PAYSTREAM_STATE_DIR")
            }
            for (name, day) in [("from", from), ("to", to)] {
                if let day, LocalDate(day) == nil { throw ValidationError("--\(name) '\(day)' is not a date in yyyy-MM-dd form") }
            }
            let report = try PayoutReport.gather(stateDirectory: directory, payee: payee, from: from, to: to)
            switch format {
            case .table: print(report.table)
            case .csv: print(report.csv, terminator: "")
            case .json: print(report.json)
            }
            let broken = report.payouts.filter { !$0.linesAddUp }
            if !broken.isEmpty {
                printError("paystream report payouts: the lines of \(broken.map(\.payoutId).joined(separator: ", ")) do not sum to the payout")
                throw ExitCode(1)
            }
        }
    }

    struct Reconciliation: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "What reconciliation found for a statement day: counts per state and each exception.",
            discussion: """
                Reads every reconciler shard read-only. An item is a capture or refund we recorded (with the statement line \
                it was paired with) or a line nobody expected; its day is its line's statement day, else the UTC day of the \
                movement. Prints the count of every state (matched, missing_in_channel, extra_in_channel, amount_mismatch, \
                fee_mismatch, status_mismatch, duplicate, pending) and every item that is not matched. Exits 1 when there \
                is an exception other than pending, so that a script can tell a clean day. --format table (default) or json.
                """)

        enum Format: String, ExpressibleByArgument { case table, json }

        @Option(help: "The statement day, yyyy-MM-dd.") var date: String
        @Option(help: "table or json.") var format: Format = .table
        @Option(name: .customLong("state-dir"), help: "The daemons' state directory (default: $PAYSTREAM_STATE_DIR).")
        var stateDirectory: String?

        func run() throws {
            guard let directory = stateDirectory ?? ProcessInfo.processInfo.environment["PAYSTREAM_STATE_DIR"], !directory.isEmpty else {
                throw ValidationError("no state directory: pass --state-dir or set PAYSTREAM_STATE_DIR")
            }
            guard LocalDate(date) != nil else { throw ValidationError("--date '\(date)' is not a date in yyyy-MM-dd form") }
            let report = try ReconciliationReport.gather(stateDirectory: directory, day: date)
            print(format == .json ? report.json : report.text, terminator: format == .json ? "\n" : "")
            if report.exceptions.contains(where: { $0.state != ReconciliationState.pending.rawValue }) { throw ExitCode(1) }
        }
    }
}
