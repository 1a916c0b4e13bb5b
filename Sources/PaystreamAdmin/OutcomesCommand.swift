import ArgumentParser
import Foundation
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaystreamRuntime

struct OutcomesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outcomes",
        abstract: "Wait until each request in a file has an outcome, then print a table of requests → outcomes.",
        discussion: "Reads payments.events, settlements.events and notifications from the beginning. A captured payment is done once it is settled and its payer notified; failed, rejected and other final states are done at once. Exits 1 if some request has no outcome within the timeout.")

    @OptionGroup var cluster: ClusterOptions

    @Option(help: "Seconds to wait for every outcome.")
    var timeout: Double = 60

    @Argument(help: "The file of requests that was published (JSON lines or a JSON array).")
    var file: String

    func run() async throws {
        let requests = try readMessages(file).compactMap { object -> TrackedRequest? in
            guard let requestID = object["request_id"]?.stringValue else { return nil }
            return TrackedRequest(requestID: requestID,
                                  paymentID: object["payment_id"]?.stringValue ?? "pay-\(requestID)",
                                  object: object)
        }
        let topics = cluster.topics
        let reader = try await TopicReader(bootstrapServers: try cluster.resolvedBrokers,
                                           topics: [topics.paymentEvents, topics.settlementEvents, topics.notifications],
                                           logger: quietLogger())
        var tracker = OutcomeTracker(requests: requests, topics: topics)
        let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
        while !tracker.allDone && ContinuousClock.now < deadline {
            let records = try await reader.readFor(.milliseconds(200))
            for record in records { tracker.observe(record) }
        }
        await reader.close()
        print(tracker.table())
        print(tracker.summary())
        if let settlement = tracker.settlementTable() {
            print("")
            print(settlement)
        }
        if !tracker.allDone { throw ExitCode(1) }
    }
}

struct TrackedRequest {
    let requestID: String
    let paymentID: String
    let object: [String: JSONValue]

    var type: String { object["type"]?.stringValue ?? "payment" }
    /// A refund or cancel acts on an existing payment; its outcome is its own event.
    var isFollowUp: Bool { type == "refund" || type == "cancel" }
}

/// Folds events into one line per request.
struct OutcomeTracker {
    struct Outcome {
        var statuses: [Int: String] = [:]
        var reason: String?
        var settledNet: Int64?
        var notified: Set<String> = []
    }

    let requests: [TrackedRequest]
    let topics: TopicNames
    var outcomes: [String: Outcome] = [:]
    /// The latest event naming each request_id (its answer: authorized, rejected, refunded…).
    var answers: [String: PaymentEvent] = [:]
    /// Settlement events in the order read, by event id (a re-published one counts once).
    var settlementEvents: [SettlementEvent] = []
    var settlementEventIDs: Set<String> = []

    init(requests: [TrackedRequest], topics: TopicNames) {
        self.requests = requests
        self.topics = topics
    }

    mutating func observe(_ record: ConsumedRecord) {
        let data = Data(record.value)
        if record.topic == topics.paymentEvents, let event = try? Wire.decode(PaymentEvent.self, from: data) {
            // A conflicting reuse of a request_id is an answer to that other request, not this one.
            if let requestID = event.requestId, !event.eventId.contains(":conflict") { answers[requestID] = event }
            // Sequence 0: a rejected request about an existing payment, which it left unchanged.
            guard event.sequence > 0 else { return }
            outcomes[event.paymentId, default: Outcome()].statuses[event.sequence] = event.status
            if let reason = event.reason { outcomes[event.paymentId, default: Outcome()].reason = reason }
        } else if record.topic == topics.settlementEvents, let event = try? Wire.decode(SettlementEvent.self, from: data) {
            if settlementEventIDs.insert(event.eventId).inserted { settlementEvents.append(event) }
            if event.type == "settlement.booked" { outcomes[event.paymentId, default: Outcome()].settledNet = event.net }
        } else if record.topic == topics.notifications, let note = try? Wire.decode(NotificationMessage.self, from: data),
                  let payment = note.paymentId {
            outcomes[payment, default: Outcome()].notified.insert(note.recipientType)
        }
    }

    func finalStatus(_ request: TrackedRequest) -> String? {
        guard let answer = answers[request.requestID] else { return nil }
        if request.isFollowUp || answer.sequence == 0 { return answer.status }
        return outcomes[request.paymentID]?.statuses.max { $0.key < $1.key }?.value ?? answer.status
    }

    func reason(_ request: TrackedRequest) -> String? {
        guard let answer = answers[request.requestID] else { return nil }
        if request.isFollowUp || answer.sequence == 0 { return answer.reason }
        return outcomes[request.paymentID]?.reason
    }

    func isDone(_ request: TrackedRequest) -> Bool {
        guard let status = finalStatus(request) else { return false }
        if request.isFollowUp { return true }
        switch status {
        case "authorized": return false
        case "captured" where request.type == "payment":
            let outcome = outcomes[request.paymentID]
            return outcome?.settledNet != nil && outcome?.notified.contains("payer") == true
        default: return true
        }
    }

    var allDone: Bool { requests.allSatisfy(isDone) }

    func table() -> String {
        var rows = [["REQUEST", "PAYMENT", "AMOUNT", "METHOD", "OUTCOME", "REASON", "EVENTS", "SETTLED NET", "NOTIFIED"]]
        for request in requests {
            let outcome = outcomes[request.paymentID]
            let amount: String = {
                guard case .integer(let minor) = request.object["amount"] ?? .null,
                      let code = request.object["currency"]?.stringValue else { return "-" }
                return Currency.named(code).map { Money(minorUnits: minor, currency: $0).formatted } ?? "\(code) \(minor)"
            }()
            let events = outcome?.statuses.sorted { $0.key < $1.key }.map(\.value).joined(separator: "→") ?? "-"
            let net: String = {
                guard let net = outcome?.settledNet, let code = request.object["currency"]?.stringValue,
                      let currency = Currency.named(code) else { return "-" }
                return Money(minorUnits: net, currency: currency).formatted
            }()
            rows.append([request.requestID, request.paymentID, amount, request.object["method"]?.stringValue ?? "-",
                         isDone(request) ? (finalStatus(request) ?? "-") : "PENDING(\(finalStatus(request) ?? "nothing"))",
                         reason(request) ?? "-", events, net,
                         outcome?.notified.sorted().joined(separator: ",").nonEmpty ?? "-"])
        }
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ")
        }.joined(separator: "\n")
    }

    /// What settlement did for the file's requests: each booking with its terms and breakdown
    /// (mode, fee, commission, splits, FX, the merchant's net), and what followed (refunds,
    /// repayments, installments). nil when settlement did nothing for them.
    func settlementTable() -> String? {
        let ids = Set(requests.map(\.paymentID))
        let events = settlementEvents.filter { ids.contains($0.paymentId) || $0.reference.map(ids.contains) == true }
        guard !events.isEmpty else { return nil }
        func money(_ minor: Int64?, _ code: String?) -> String {
            guard let minor, let code else { return "-" }
            return Currency.named(code).map { Money(minorUnits: minor, currency: $0).formatted } ?? "\(code) \(minor)"
        }
        var rows = [["PAYMENT", "EVENT", "MODE", "AMOUNT", "FEE", "COMMISSION", "SPLITS", "FX", "MERCHANT NET", "DETAIL"]]
        for event in events {
            let splits = zip(event.splits, event.splitsSettled ?? event.splits).map { "\($0.partyId) \(money($1.amount, event.settlementCurrency ?? event.currency))" }
            let fx = event.fx.map { "\($0.base)/\($0.quote) \($0.rate)" } ?? "-"
            var detail: [String] = []
            if let date = event.availableOn { detail.append("available \(date)") }
            if let financing = event.installmentFinancing, event.type == "settlement.booked" { detail.append("financed \(financing)") }
            if let schedule = event.installments {
                detail.append("\(schedule.count) × from \(schedule.first?.dueDate ?? "?"): "
                    + schedule.map { money($0.amount, event.currency) }.joined(separator: ", "))
            }
            if let installment = event.installment {
                detail.append("#\(installment.number) due \(installment.dueDate) \(installment.status)")
            }
            if let total = event.reversedTotal { detail.append("reversed \(money(total, event.currency)) in all") }
            if let outstanding = event.outstanding { detail.append("payer owes \(money(outstanding, event.currency))") }
            let priced = event.type == "settlement.booked" || event.type == "settlement.refunded"
            rows.append([event.paymentId, event.type, event.settlementMode, money(event.amount, event.currency),
                         priced ? money(event.fee, event.currency) : "-", priced ? money(event.commission, event.currency) : "-",
                         priced ? splits.joined(separator: ", ").nonEmpty ?? "-" : "-", priced ? fx : "-",
                         priced ? money(event.netSettled ?? event.net, event.settlementCurrency ?? event.currency) : "-",
                         detail.joined(separator: "; ").nonEmpty ?? "-"])
        }
        return "settlement:\n" + PaystreamAdmin.table(rows)
    }

    func summary() -> String {
        var counts: [String: Int] = [:]
        for request in requests { counts[isDone(request) ? (finalStatus(request) ?? "?") : "pending", default: 0] += 1 }
        let parts = counts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        return "\(requests.count) requests: \(parts)"
    }
}

extension String {
    var nonEmpty: String? { isEmpty ? nil : self }
}
