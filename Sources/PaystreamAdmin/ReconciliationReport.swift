import Foundation
import GRDB
import PaystreamDomain
import PaystreamWire
import PaystreamStore
import ReconciliationWorker

/// What reconciliation found for one statement day: the current result of every item of that
/// day (a line's day, or the UTC day of a movement no line was found for), read from the
/// reconciler's shards, counted per state, with every item that is not `matched` listed.
public struct ReconciliationReport: Sendable {
    public let day: String
    public let results: [ReconciliationResultMessage]

    public static func gather(stateDirectory: String, day: String) throws -> ReconciliationReport {
        var results: [ReconciliationResultMessage] = []
        for path in ShardStore.paths(stateDirectory: stateDirectory, stage: "reconciler") {
            try ShardStore.readOnly(path: path) { db in results += try ReconciliationTables.results(db, day: day) }
        }
        return ReconciliationReport(day: day, results: results.sorted { ($0.state, $0.paymentId, $0.itemId) < ($1.state, $1.paymentId, $1.itemId) })
    }

    /// Every state with its count, in the order of `ReconciliationState.allCases`.
    public var counts: [(state: String, count: Int)] {
        ReconciliationState.allCases.map { state in (state.rawValue, results.filter { $0.state == state.rawValue }.count) }
    }

    /// Items that are not matched: mismatches, duplicates, missing and extra, and pending ones.
    public var exceptions: [ReconciliationResultMessage] { results.filter { $0.state != ReconciliationState.matched.rawValue } }

    public var text: String {
        var out = "reconciliation of \(day): \(results.count) item\(results.count == 1 ? "" : "s")\n"
        out += table([["state", "items"]] + counts.map { [$0.state, "\($0.count)"] }) + "\n"
        let open = exceptions
        guard !open.isEmpty else { return out + "\nno exceptions\n" }
        out += "\nexceptions:\n"
        out += table([["state", "payment", "type", "method", "ours", "channel", "line", "detail"]] + open.map { result in
            [result.state, result.paymentId, result.type, result.method ?? "-",
             result.expected.map { "\($0.amount) \($0.currency) (\($0.status))" } ?? "-",
             result.line.map { "\($0.amount) \($0.currency) fee \($0.fee)" } ?? "-",
             result.line?.lineId ?? "-", result.detail]
        }) + "\n"
        return out
    }

    public var json: String {
        struct Body: Encodable {
            let day: String
            let counts: [String: Int]
            let exceptions: [ReconciliationResultMessage]
        }
        let body = Body(day: day, counts: Dictionary(uniqueKeysWithValues: counts.map { ($0.state, $0.count) }), exceptions: exceptions)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(body)) ?? Data(), as: UTF8.self)
    }
}
