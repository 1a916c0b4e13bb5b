import Foundation
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaystreamRuntime

/// Everything the pipeline published during a fault run, folded as it is read: the events that
/// answer each request, dead letters by the coordinates of what they park, settlement bookings,
/// notifications, and the content of every event id (a record read twice counts once).
final class FaultObserver: @unchecked Sendable {
    struct PayerKey: Hashable, Sendable {
        let payer: String
        let id: String
    }

    struct Coordinates: Hashable, Sendable {
        let topic: String
        let partition: Int32
        let offset: Int64
    }

    private let lock = NSLock()
    private let topics: TopicNames
    private var seen: Set<Coordinates> = []
    /// The first content of each (topic, event id), and the ids seen with another content.
    private var contents: [String: [UInt8]] = [:]
    private(set) var conflictingIDs: [String] = []
    /// Payment events by the request they name (conflict rejections excluded) and by payment.
    private var byRequest: [PayerKey: [String: String]] = [:]
    private var byPayment: [PayerKey: [String: String]] = [:]
    private var eventIDs: Set<String> = []
    /// The reason of every rejection event.
    private var rejectionReasons: [String: String] = [:]
    /// Each request_id named by an event, whoever the payer (hostile records' answers).
    private var requestIDs: Set<String> = []
    private var letters: [Coordinates: Set<String>] = [:]
    /// The stages that parked each record.
    private var letterStages: [Coordinates: Set<String>] = [:]
    private var lettersByCode: [String: Set<String>] = [:]
    private(set) var stageErrors: [String] = []
    private var captures: [String: PaymentEvent] = [:]
    private var booked: [PayerKey: SettlementEvent] = [:]
    private var notificationIDs: Set<String> = []
    private var recordsByTopic: [String: Int] = [:]

    init(topics: TopicNames) { self.topics = topics }

    /// The topics a fault run reads: every output and dead-letter topic, and the repartition
    /// topics (to count forwarded records).
    static func watchedTopics(_ topics: TopicNames) -> [String] {
        let inputs = topics.inputTopics.filter { $0 != topics.paymentRequests && $0 != topics.payoutRequests && $0 != topics.payoutConfirmations }
        return inputs + [topics.notifications] + topics.inputTopics.map(topics.deadLetter(of:))
            + topics.inputTopics.map(topics.repartition(of:))
    }

    func observe(_ records: [ConsumedRecord]) {
        lock.withLock {
            for record in records where seen.insert(Coordinates(topic: record.topic, partition: record.partition, offset: record.offset)).inserted {
                fold(record)
            }
        }
    }

    private func fold(_ record: ConsumedRecord) {
        recordsByTopic[record.topic, default: 0] += 1
        if topics.source(ofRepartition: record.topic) != nil { return }  // upstream bytes, not ours
        if let id = record.header("event-id") {
            let key = record.topic + " " + id
            if let first = contents[key] {
                if first != record.value { conflictingIDs.append(key) }
            } else {
                contents[key] = record.value
            }
        }
        let data = Data(record.value)
        if topics.isDeadLetterTopic(record.topic) {
            guard let letter = try? Wire.decode(DeadLetterMessage.self, from: data) else { return }
            let identity = record.header("event-id") ?? "\(record.topic)/\(record.partition)/\(record.offset)"
            let coordinates = Coordinates(topic: letter.sourceTopic, partition: letter.sourcePartition, offset: letter.sourceOffset)
            letters[coordinates, default: []].insert(identity)
            letterStages[coordinates, default: []].insert(letter.stage ?? "")
            if lettersByCode[letter.errorCode, default: []].insert(identity).inserted, letter.errorCode == "stage_error" {
                stageErrors.append("\(letter.sourceTopic) \(letter.sourcePartition)/\(letter.sourceOffset): \(letter.errorMessage)")
            }
        } else if record.topic == topics.paymentEvents, let event = try? Wire.decode(PaymentEvent.self, from: data) {
            eventIDs.insert(event.eventId)
            if event.type == "payment.rejected" { rejectionReasons[event.eventId] = event.reason ?? "?" }
            let payer = event.payerId ?? ""
            if let request = event.requestId {
                requestIDs.insert(request)
                if !event.eventId.contains(":conflict") {
                    byRequest[PayerKey(payer: payer, id: request), default: [:]][event.eventId] = event.type
                }
            }
            byPayment[PayerKey(payer: payer, id: event.paymentId), default: [:]][event.eventId] = event.type
            if event.type == "payment.captured" { captures[event.eventId] = event }
        } else if record.topic == topics.settlementEvents, let event = try? Wire.decode(SettlementEvent.self, from: data),
                  event.type == "settlement.booked" {
            booked[PayerKey(payer: event.payerId, id: event.paymentId)] = event
        } else if record.topic == topics.notifications, let note = try? Wire.decode(NotificationMessage.self, from: data) {
            notificationIDs.insert(note.eventId)
        }
    }

    static let paymentOutcomes: Set<String> = ["payment.captured", "payment.failed", "payment.expired", "payment.cancelled",
                                                "payment.conflicted"]

    /// The distinct terminal events (event id → type) that answer `request`: a rejection, or for
    /// a payment, top-up or repayment the one status its payment left `authorized` for; for a
    /// refund its refund event; for a cancel the cancellation (or the refund, after capture).
    func outcomes(of request: FaultLoad.Request) -> [String: String] {
        lock.withLock {
            let answers = byRequest[PayerKey(payer: request.payer, id: request.requestID)] ?? [:]
            switch request.type {
            case "refund":
                return answers.filter { ["payment.partially_refunded", "payment.refunded", "payment.rejected"].contains($0.value) }
            case "cancel":
                // A cancel after capture refunds what is left.
                return answers.filter { ["payment.cancelled", "payment.refunded", "payment.rejected"].contains($0.value) }
            default:
                let finals = (byPayment[PayerKey(payer: request.payer, id: request.paymentID)] ?? [:])
                    .filter { Self.paymentOutcomes.contains($0.value) }
                return answers.filter { $0.value == "payment.rejected" }.merging(finals) { a, _ in a }
            }
        }
    }

    func rejectionReason(_ eventID: String) -> String? { lock.withLock { rejectionReasons[eventID] } }

    func hasEvent(_ eventID: String) -> Bool { lock.withLock { eventIDs.contains(eventID) } }

    func namesRequest(_ requestID: String) -> Bool { lock.withLock { requestIDs.contains(requestID) } }

    /// Distinct dead letters parking the record at these coordinates.
    func deadLetters(at coordinates: Coordinates) -> Int { lock.withLock { letters[coordinates]?.count ?? 0 } }

    /// How many stages parked the record at `coordinates`.
    func deadLetterStages(at coordinates: Coordinates) -> Int { lock.withLock { letterStages[coordinates]?.count ?? 0 } }

    var deadLettersByCode: [String: Int] { lock.withLock { lettersByCode.mapValues(\.count) } }

    var forwardedByTopic: [String: Int] {
        lock.withLock {
            recordsByTopic.compactMap { topic, count in topics.source(ofRepartition: topic).map { ($0, count) } }
                .reduce(into: [:]) { $0[$1.0, default: 0] += $1.1 }
        }
    }

    var distinctEventIDs: Int { lock.withLock { contents.count } }
    var recordsRead: Int { lock.withLock { seen.count } }

    /// Captured merchant payments with no booking yet, and captures with no payer notification.
    func downstreamGaps() -> (unbooked: [String], unnotified: [String]) {
        lock.withLock {
            var unbooked: [String] = [], unnotified: [String] = []
            for (id, event) in captures {
                if let merchant = event.merchantId, !merchant.isEmpty,
                   booked[PayerKey(payer: event.payerId ?? "", id: event.paymentId)] == nil {
                    unbooked.append(id)
                }
                if !notificationIDs.contains("nt:\(id):payer:\(event.payerId ?? "")") { unnotified.append(id) }
            }
            return (unbooked.sorted(), unnotified.sorted())
        }
    }

    /// Captured and booked amounts per currency, as the events tell them.
    func eventTotals() -> (captured: [String: Int64], booked: [String: Int64]) {
        lock.withLock {
            var captured: [String: Int64] = [:], bookedTotals: [String: Int64] = [:]
            for event in captures.values {
                guard let merchant = event.merchantId, !merchant.isEmpty else { continue }
                captured[event.currency ?? "?", default: 0] += event.amount ?? 0
            }
            for event in booked.values { bookedTotals[event.currency, default: 0] += event.amount }
            return (captured, bookedTotals)
        }
    }
}
