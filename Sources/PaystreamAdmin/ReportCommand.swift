import ArgumentParser
import Foundation
import PaystreamDomain

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "Print a report from the shards under a state directory.",
        subcommands: [Payouts.self])

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
}
