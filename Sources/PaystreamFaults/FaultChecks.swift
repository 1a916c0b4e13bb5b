import Foundation
import GRDB
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaystreamRuntime
import PaymentWorker
import PaystreamTesting

/// The end checks of a fault run: exactly one terminal outcome per request, an answer for every
/// hostile record, no event id with two contents, no `stage_error`, `paystream verify` in every
/// shard, captured money booked, daemons that stopped cleanly.
struct FaultChecks: Sendable {
    let load: FaultLoad
    let reports: [Int: DeliveryReport]
    let hostile: [(record: FuzzInput.Record, at: DeliveryReport)]
    let observer: FaultObserver
    let topics: TopicNames
    /// Stages that read a topic, where more than one does (channel.requests: the sandbox and
    /// channel-gateway, each parking what it cannot read).
    var readers: [String: Int] = [:]

    private var originals: [FaultLoad.Request] { load.requests.filter(\.isOriginal) }
    private var conflicts: [FaultLoad.Request] { load.requests.filter { $0.kind == .conflictingDuplicate } }

    /// The event id of the rejection a conflicting duplicate gets (it names where it was published).
    func conflictEventID(_ request: FaultLoad.Request) -> String? {
        reports[request.index].map {
            MessageID.rejection(payer: request.payer, request: request.requestID) + ":conflict:\($0.partition):\($0.offset)"
        }
    }

    /// Answers to a hostile record: its dead letters (once every stage that reads its topic parked
    /// it; a stage parking it twice is one too many), plus 1 if an event names it.
    func answers(_ entry: (record: FuzzInput.Record, at: DeliveryReport)) -> Int {
        let coordinates = FaultObserver.Coordinates(topic: entry.record.topic, partition: entry.at.partition, offset: entry.at.offset)
        let parked = observer.deadLetters(at: coordinates), stages = observer.deadLetterStages(at: coordinates)
        let letters = (stages == (readers[entry.record.topic] ?? 1) ? 1 : 0) + parked - stages
        guard entry.record.topic == topics.paymentRequests else { return letters }
        let byCoordinates = "rj:\(entry.record.topic):\(entry.at.partition):\(entry.at.offset)"
        let requestID = FaultLoad.field(of: entry.record.value, "request_id") as? String
        let named = observer.hasEvent(byCoordinates) || requestID.map(observer.namesRequest) == true
        return letters + (named ? 1 : 0)
    }

    func settled() -> Bool {
        let gaps = observer.downstreamGaps()
        return originals.allSatisfy { !observer.outcomes(of: $0).isEmpty }
            && conflicts.allSatisfy { conflictEventID($0).map(observer.hasEvent) == true }
            && hostile.allSatisfy { answers($0) >= 1 }
            && gaps.unbooked.isEmpty && gaps.unnotified.isEmpty
    }

    func pendingDescription() -> String {
        let gaps = observer.downstreamGaps()
        let unanswered = originals.filter { observer.outcomes(of: $0).isEmpty }
        return "\(unanswered.count) requests without an outcome\(unanswered.prefix(3).map { " \($0.requestID)" }.joined()), "
            + "\(conflicts.filter { conflictEventID($0).map(observer.hasEvent) != true }.count) conflicts unanswered, "
            + "\(hostile.filter { answers($0) == 0 }.count) hostile records unanswered, "
            + "\(gaps.unbooked.count) captures not booked, \(gaps.unnotified.count) not notified"
    }

    /// - Parameter statuses: each host's daemons' exit statuses on the final SIGTERM.
    func report(stateDirectory: String, statuses: [(host: String, daemon: DaemonFleet.Daemon, status: Int32)],
                fleets: [DaemonFleet]) throws -> FaultReport {
        var report = FaultReport()
        report.requests = load.requests.count
        report.requestKinds = Dictionary(grouping: load.requests, by: \.kind.rawValue).mapValues(\.count)
        report.payers = load.payers.count
        report.hostileRecords = hostile.count
        var kills: [DaemonFleet.Daemon: Int] = [:]
        for fleet in fleets { kills.merge(fleet.kills, uniquingKeysWith: +) }
        report.kills = Dictionary(uniqueKeysWithValues: kills.map { ($0.key.rawValue, $0.value) })
        report.forwarded = observer.forwardedByTopic
        report.deadLetters = observer.deadLettersByCode
        report.eventIDs = observer.distinctEventIDs
        var problems: [String] = []

        // Exactly one terminal outcome per request.
        for request in originals {
            let outcomes = observer.outcomes(of: request)
            if outcomes.count != 1 {
                problems.append("request \(request.requestID) (\(request.kind.rawValue), payer \(request.payer)) has "
                                + "\(outcomes.count) terminal outcomes: \(outcomes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" })")
            }
            guard let (id, type) = outcomes.first else { continue }
            let name = type.replacingOccurrences(of: "payment.", with: "")
            report.outcomes[name, default: 0] += 1
            if type == "payment.rejected" { report.rejections[observer.rejectionReason(id) ?? "?", default: 0] += 1 }
        }
        for request in conflicts where conflictEventID(request).map(observer.hasEvent) != true {
            problems.append("conflicting duplicate of \(request.requestID) (payer \(request.payer)) got no idempotency_conflict rejection")
        }
        for entry in hostile where answers(entry) != 1 {
            problems.append("hostile record (\(entry.record.kind)) at \(entry.record.topic) \(entry.at.partition)/\(entry.at.offset) "
                            + "has \(answers(entry)) answers")
        }
        let gaps = observer.downstreamGaps()
        problems += gaps.unbooked.map { "capture \($0) was never booked by settlement" }
        problems += gaps.unnotified.map { "capture \($0) was never notified to its payer" }
        problems += observer.conflictingIDs.map { "event id \($0) was published with two different contents" }
        problems += observer.stageErrors.map { "stage_error: \($0)" }
        problems += fleets.flatMap(\.unexpectedExits)
        for (host, daemon, status) in statuses.sorted(by: { ($0.host, $0.daemon.rawValue) < ($1.host, $1.daemon.rawValue) }) where status != 0 {
            problems.append("\(daemon.rawValue) on host \(host) exited \(status) on SIGTERM at the end (expected 0)")
        }
        let fleetDaemons = fleets.first?.daemons ?? DaemonFleet.Daemon.standard
        for daemon in fleetDaemons where (kills[daemon] ?? 0) == 0 && kills.values.reduce(0, +) >= fleetDaemons.count {
            problems.append("\(daemon.rawValue) was never killed")
        }

        // paystream verify, in every shard.
        let verify = try Self.runVerify(stateDirectory: stateDirectory)
        report.verify = verify.summary
        if verify.status != 0 { problems.append("paystream verify exited \(verify.status):\n\(verify.output)") }

        // Captured by the payment stage = booked by the settlement stage, payment by payment.
        let money = try MoneyComparison(stateDirectory: stateDirectory)
        report.money = money.lines
        problems += money.problems
        let totals = observer.eventTotals()
        if totals.captured != totals.booked {
            problems.append("payment.captured events total \(totals.captured) but settlement.booked events total \(totals.booked)")
        }
        report.problems = problems
        return report
    }

    static func runVerify(stateDirectory: String) throws -> (status: Int32, output: String, summary: String) {
        let process = Process()
        process.executableURL = try productsDirectory().appendingPathComponent("paystream")
        process.arguments = ["verify", "--state-dir", stateDirectory]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let output = String(decoding: data, as: UTF8.self)
        let summary = output.split(separator: "\n").last.map(String.init) ?? "(no output)"
        return (process.terminationStatus, output, summary)
    }
}

/// What the payment stage captured for merchants against what the settlement stage booked, read
/// from the shards: the same payments with the same amounts, and the same refunds.
struct MoneyComparison {
    struct Line: Hashable {
        let amount: Int64
        let currency: String
    }

    var problems: [String] = []
    var lines: [String] = []

    init(stateDirectory: String) throws {
        let payments = try ShardInspection.payments(stateDirectory: stateDirectory)
        var captured: [String: Line] = [:]
        var refunded: [String: Int64] = [:]
        for payment in payments where payment.type == .payment && !(payment.merchantID ?? "").isEmpty
            && payment.capturedAt != nil && [.captured, .partiallyRefunded, .refunded].contains(payment.status) {
            captured[MessageID.part(payment.payerID) + ":" + MessageID.part(payment.paymentID)] = Line(amount: payment.amount, currency: payment.currency)
            if payment.refunded > 0 { refunded[payment.currency, default: 0] += payment.refunded }
        }
        var booked: [String: Line] = [:]
        var bookedRefunds: [String: Int64] = [:]
        for shard in try ShardInspection.read(stateDirectory: stateDirectory, stage: "settlement-worker", { db in
            (try Row.fetchAll(db, sql: "SELECT payer_id, payment_id, gross AS amount, currency FROM settlement_line"),
             try Row.fetchAll(db, sql: "SELECT currency, SUM(reversed) AS total FROM settlement_line GROUP BY currency"))
        }) {
            for row in shard.0 {
                let payer: String = row["payer_id"], payment: String = row["payment_id"]
                booked[MessageID.part(payer) + ":" + MessageID.part(payment)] = Line(amount: row["amount"], currency: row["currency"])
            }
            for row in shard.1 { bookedRefunds[row["currency"], default: 0] += row["total"] }
        }
        for (payment, line) in captured.sorted(by: { $0.key < $1.key }) where booked[payment] != line {
            problems.append("payment \(payment) captured \(line.currency) \(line.amount), booked \(booked[payment].map { "\($0.currency) \($0.amount)" } ?? "nothing")")
        }
        for payment in Set(booked.keys).subtracting(captured.keys).sorted() {
            problems.append("settlement booked \(payment), which the payment stage did not capture")
        }
        func totals(_ lines: [String: Line]) -> [String: (count: Int, sum: Int64)] {
            lines.values.reduce(into: [:]) { $0[$1.currency, default: (0, 0)].count += 1; $0[$1.currency, default: (0, 0)].sum += $1.amount }
        }
        let capturedTotals = totals(captured), bookedTotals = totals(booked)
        for currency in Set(capturedTotals.keys).union(bookedTotals.keys).sorted() {
            let c = capturedTotals[currency] ?? (0, 0), b = bookedTotals[currency] ?? (0, 0)
            lines.append("\(currency): captured \(Self.format(c.sum, currency)) in \(c.count) payments, booked \(Self.format(b.sum, currency)) "
                         + "in \(b.count); refunded \(Self.format(refunded[currency] ?? 0, currency)), settlement refunds "
                         + "\(Self.format(bookedRefunds[currency] ?? 0, currency))")
        }
        if refunded != bookedRefunds.filter({ $0.value != 0 }) {
            problems.append("refunds: the payment stage refunded \(refunded), the settlement stage booked \(bookedRefunds)")
        }
    }

    static func format(_ minor: Int64, _ code: String) -> String {
        Currency.named(code).map { Money(minorUnits: minor, currency: $0).formatted } ?? "\(code) \(minor)"
    }
}
