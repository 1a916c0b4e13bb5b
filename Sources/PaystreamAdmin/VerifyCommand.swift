import ArgumentParser
import Foundation
import GRDB
import PaystreamRuntime
import PaymentWorker
import PaystreamLedger
import SettlementWorker
import PaystreamStore

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check the ledger invariants in every shard under a state directory.",
        discussion: """
            Opens every payment-worker and settlement-worker shard (<state-dir>/<stage>/p<N>.sqlite) \
            read-only — safe while the daemons run. In payment-worker shards: every posting balances per \
            currency, no account below its floor, stored balances equal their entries, every hold resolved \
            at most once, and every payment's hold and refunds match its status. In settlement-worker \
            shards: the same ledger invariants, every settlement line's parts adding up to its gross with \
            reversals within what was booked, and the merchant-side balances equal to what the lines call for. \
            Across stages: for every payment, captured − refunded on the payment side equals booked − reversed \
            on the settlement side, and the repayments handed over equal those settlement counts (a payment \
            still in flight between the stages shows as a difference: verify a drained pipeline; it needs both \
            stages' shards under the one state directory). \
            Prints one line per shard and every problem; exits 1 if there is any, 0 if all hold.
            """)

    @Option(name: .customLong("state-dir"), help: "The daemons' state directory (default: $PAYSTREAM_STATE_DIR).")
    var stateDirectory: String?

    func run() throws {
        guard let directory = stateDirectory ?? ProcessInfo.processInfo.environment["PAYSTREAM_STATE_DIR"], !directory.isEmpty else {
            throw ValidationError("no state directory: pass --state-dir or set PAYSTREAM_STATE_DIR")
        }
        var problems = 0
        var shards = 0
        let checks: [(String, (Database) throws -> [String])] = [
            ("payment-worker", { try PaymentTables.consistencyProblems($0) }),
            ("settlement-worker", { try SettlementAudit.problems($0) }),
        ]
        for (stage, check) in checks {
            for path in ShardStore.paths(stateDirectory: directory, stage: stage) {
                let found: [String]
                do {
                    found = try ShardStore.readOnly(path: path, check)
                } catch let error as LedgerStorageError {
                    found = ["ledger: \(error)"]
                }
                shards += 1
                problems += found.count
                print("\(stage)/\((path as NSString).lastPathComponent): \(found.isEmpty ? "ok" : "\(found.count) problem(s)")")
                for problem in found { print("  \(problem)") }
            }
        }
        guard shards > 0 else { throw ValidationError("no shards under \(directory)") }
        if ShardStore.paths(stateDirectory: directory, stage: "payment-worker").isEmpty
            || ShardStore.paths(stateDirectory: directory, stage: "settlement-worker").isEmpty {
            print("across stages: not checked (this state directory does not hold both payment-worker and settlement-worker shards)")
        } else {
            let across = try CrossStageCheck.problems(stateDirectory: directory)
            print("across stages: \(across.isEmpty ? "ok" : "\(across.count) problem(s)")")
            for problem in across { print("  \(problem)") }
            problems += across.count
        }
        print("\(shards) shards checked, \(problems) problem(s)")
        if problems > 0 { throw ExitCode(1) }
    }
}
