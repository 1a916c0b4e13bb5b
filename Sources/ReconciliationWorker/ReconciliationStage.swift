import Foundation
import GRDB
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaystreamRuntime
import PaystreamStore

/// reconciler: matches the channels' statement lines (`channel.statements`, published by
/// `paystream statements load`) with what the payment stage captured and refunded
/// (`payments.events`), payment by payment, and publishes what it finds on
/// `reconciliation.results`. Both inputs are sharded by the payment id in their body, so a
/// payment's events and its statement lines meet in one shard whatever their keys. A line or a
/// movement inside the timing window is `pending`; the timer decides it once the window has
/// passed. docs/settlement.md, "Reconciliation", has the rules.
public struct ReconciliationStage: Stage {
    public struct Settings: Decodable, Sendable {
        /// How long a movement may wait for its statement line, and a line (after the end of its
        /// statement day) for its movement, before it is reported missing or extra.
        public var timingWindowSeconds: Double
        /// How often the timer looks for pending items whose window has passed, in milliseconds.
        public var timerIntervalMs: Int
        /// The fee each channel's contract gives per method (`basis_points`, `fixed`, optional
        /// `minimum`, `maximum`), checked against the fee on each payment line. A method
        /// missing here has its fees unchecked.
        public var channelFees: [String: FeePlan]

        public init(timingWindowSeconds: Double = 86_400, timerIntervalMs: Int = 1_000, channelFees: [String: FeePlan] = [:]) throws {
            guard timingWindowSeconds >= 0 else {
                throw ConfigurationError("stage.timing_window_seconds must not be negative, not \(timingWindowSeconds)")
            }
            guard timerIntervalMs >= 10 else { throw ConfigurationError("stage.timer_interval_ms must be at least 10, not \(timerIntervalMs)") }
            self.timingWindowSeconds = timingWindowSeconds
            self.timerIntervalMs = timerIntervalMs
            self.channelFees = channelFees
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case timingWindowSeconds = "timing_window_seconds", timerIntervalMs = "timer_interval_ms", channelFees = "channel_fees"
        }

        public init(from decoder: any Decoder) throws {
            try rejectUnknownKeys(decoder, known: CodingKeys.allCases.map(\.rawValue))
            let c = try decoder.container(keyedBy: CodingKeys.self)
            do {
                try self.init(timingWindowSeconds: try c.decodeIfPresent(Double.self, forKey: .timingWindowSeconds) ?? 86_400,
                              timerIntervalMs: try c.decodeIfPresent(Int.self, forKey: .timerIntervalMs) ?? 1_000,
                              channelFees: try c.decodeIfPresent([String: FeePlan].self, forKey: .channelFees) ?? [:])
            } catch let error as ConfigurationError {
                throw DecodingError.dataCorruptedError(forKey: .timingWindowSeconds, in: c, debugDescription: error.description)
            }
        }
    }

    public enum Input: Sendable {
        case payment(PaymentEvent)
        case line(StatementLine)
    }

    public let name = "reconciler"
    public let topics: TopicNames
    public let settings: Settings

    public init(topics: TopicNames, settings: Settings) {
        self.topics = topics
        self.settings = settings
    }

    public var inputTopics: [String] { [topics.paymentEvents, topics.channelStatements] }
    public var outputTopics: [String] { [topics.reconciliationResults] }
    public var schema: StageSchema { ReconciliationTables.schema }
    public var tickInterval: Duration? { .milliseconds(settings.timerIntervalMs) }

    /// Both inputs meet by the payment id in their body (payment events are keyed by payer).
    public func shardKey(of record: ConsumedRecord) -> [UInt8]? {
        (try? Wire.decode(PaymentIDField.self, from: Data(record.value))).map { Array($0.paymentId.utf8) }
    }

    /// Payment events are the notifier's too, sharded by their key there: the reconciler's
    /// forwarded copies go to a repartition topic of its own.
    public func repartitionTopic(of input: String, in topics: TopicNames) -> String {
        input == topics.paymentEvents ? topics.repartition(of: input, stage: name) : topics.repartition(of: input)
    }

    public func decode(_ record: ConsumedRecord) throws(DeadLetter) -> Input {
        if record.topic == topics.channelStatements {
            let line = try decodeMessage(StatementLine.self, schema: StatementLine.schemaName, from: record)
            guard line.type == "payment" || line.type == "refund" else {
                throw DeadLetter(code: "invalid_line", message: "type '\(line.type)' is neither payment nor refund")
            }
            guard line.amount > 0, line.fee >= 0, !line.paymentId.isEmpty, !line.lineId.isEmpty else {
                throw DeadLetter(code: "invalid_line", message: "a line needs a line_id, a payment_id, a positive amount and a fee ≥ 0")
            }
            return .line(line)
        }
        return .payment(try decodeMessage(PaymentEvent.self, schema: PaymentEvent.schemaName, from: record))
    }

    /// Payment events through the inbox; statement lines dedup themselves by line id and content
    /// (a reloaded file is the same lines again, at any distance in time).
    public func messageID(of input: Input) -> String? {
        switch input {
        case .payment(let event): "event:\(event.eventId)"
        case .line: nil
        }
    }

    public func apply(_ input: Input, record: ConsumedRecord, in context: StageContext) throws {
        var decision = ReconciliationDecision(stage: self, context: context)
        switch input {
        case .payment(let event): try decision.record(event)
        case .line(let line): try decision.record(line)
        }
    }

    /// Decides the pending items whose window has passed.
    public func tick(in context: StageContext) throws {
        var decision = ReconciliationDecision(stage: self, context: context)
        try decision.decideDue()
    }
}

/// The one field both inputs are sharded by.
struct PaymentIDField: Decodable, WireKeyed {
    let paymentId: String

    enum CodingKeys: String, CodingKey { case paymentId = "payment_id" }
}
