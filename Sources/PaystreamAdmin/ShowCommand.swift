import ArgumentParser
import Foundation

struct ShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Show what the shards under a state directory hold about one thing.",
        subcommands: [Payment.self])

    struct Payment: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a payment: its row, the messages published for it, its hold, ledger postings and settlement.",
            discussion: """
                Searches every payment-worker shard (<state-dir>/payment-worker/p<N>.sqlite) for the payer's payment, \
                read-only (safe while the daemons run), and every settlement-worker shard for its settlement line. \
                Messages come from the outbox, which keeps sent rows for outbox.retention only. Exits 1 if the \
                payer has no payment (and no rejected request) with that id.
                """)

        @Argument(help: "The payer_id.")
        var payer: String

        @Argument(help: "The payment_id.")
        var paymentID: String

        @Option(name: .customLong("state-dir"), help: "The daemons' state directory (default: $PAYSTREAM_STATE_DIR).")
        var stateDirectory: String?

        func run() throws {
            guard let directory = stateDirectory ?? ProcessInfo.processInfo.environment["PAYSTREAM_STATE_DIR"], !directory.isEmpty else {
                throw ValidationError("no state directory: pass --state-dir or set PAYSTREAM_STATE_DIR")
            }
            let report: PaymentReport
            do {
                report = try PaymentReport.gather(stateDirectory: directory, payer: payer, paymentID: paymentID)
            } catch let failure as PaymentReport.Failure {
                printError("paystream show payment: \(failure)")
                throw ExitCode(1)
            }
            guard report.isFound else {
                var line = "paystream show payment: payer \(payer) has no payment \(paymentID) under \(directory)"
                if !report.otherPayers.isEmpty {
                    line += " (a payment with that id belongs to " + report.otherPayers.map { "payer \($0.payer) in \($0.shard)" }
                        .joined(separator: ", ") + ")"
                }
                printError(line)
                throw ExitCode(1)
            }
            print(report.text)
        }
    }
}
