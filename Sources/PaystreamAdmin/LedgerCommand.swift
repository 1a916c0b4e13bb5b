import ArgumentParser
import Foundation
import PaystreamDomain
import PaystreamWire
import PaystreamLedger
import PaystreamStore

struct LedgerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ledger",
        abstract: "Work with the stages' ledgers.",
        subcommands: [LedgerExportCommand.self])
}

struct LedgerExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write the ledger as a journal for accounting tools.",
        discussion: """
            Reads every payment-worker shard (the payer side: wallets, credit lines, channel positions) and \
            every settlement-worker shard (the merchant side: clearing, receivables, merchant and supplier \
            payables, revenues, FX) under the state directory, read-only, and writes one hledger transaction \
            per posting: dated by its booking day (UTC), tagged with its posting id and side, accounts named \
            <side>:<account id>, every currency declared at its ISO 4217 exponent and every account declared, \
            so that `hledger check -s ordereddates` accepts it and `hledger bal` gives the ledger's balances \
            (credits negative). --from is inclusive, --to exclusive. A summary goes to standard error.
            """)

    enum Format: String, ExpressibleByArgument { case hledger }
    enum Side: String, ExpressibleByArgument, CaseIterable { case payer, merchant, both }

    @Option(help: "Journal format (hledger).") var format: Format = .hledger
    @Option(help: "Which ledger: payer (payment-worker), merchant (settlement-worker) or both.") var side: Side = .both
    @Option(help: "First day to include, yyyy-MM-dd (UTC).") var from: String?
    @Option(help: "Day to stop before, yyyy-MM-dd (UTC).") var to: String?
    @Option(name: .customLong("state-dir"), help: "The daemons' state directory (default: $PAYSTREAM_STATE_DIR).")
    var stateDirectory: String?
    @Option(name: .shortAndLong, help: "Write the journal to this file instead of standard output.") var output: String?

    func run() throws {
        guard let directory = stateDirectory ?? ProcessInfo.processInfo.environment["PAYSTREAM_STATE_DIR"], !directory.isEmpty else {
            throw ValidationError("no state directory: pass --state-dir or set PAYSTREAM_STATE_DIR")
        }
        func day(_ text: String?, _ option: String) throws -> Date? {
            guard let text else { return nil }
            guard LocalDate(text) != nil, let date = Wire.parseTimestamp("\(text)T00:00:00Z") else {
                throw ValidationError("--\(option) '\(text)' is not a date in yyyy-MM-dd form")
            }
            return date
        }
        let start = try day(from, "from"), end = try day(to, "to")
        if let start, let end, end <= start { throw ValidationError("--to must be after --from") }
        var sides: [HledgerJournal.Side] = []
        for (name, stage) in [("payer", "payment-worker"), ("merchant", "settlement-worker")] where side == .both || side.rawValue == name {
            let ledgers = try ShardStore.paths(stateDirectory: directory, stage: stage).map { path in
                try ShardStore.readOnly(path: path) { try LedgerTables.loadAll($0) }
            }
            sides.append(.init(name: name, ledgers: ledgers))
        }
        guard sides.contains(where: { !$0.ledgers.isEmpty }) else { throw ValidationError("no shards under \(directory)") }
        let (text, summary) = HledgerJournal.render(sides, from: start, until: end)
        if let output {
            try text.write(toFile: output, atomically: true, encoding: .utf8)
        } else {
            print(text, terminator: "")
        }
        FileHandle.standardError.write(Data(("exported \(summary.transactions) transactions, \(summary.accounts) accounts, "
            + "\(summary.currencies) currencies (\(sides.map { "\($0.name): \($0.ledgers.count) shards" }.joined(separator: ", ")))\n").utf8))
    }
}
