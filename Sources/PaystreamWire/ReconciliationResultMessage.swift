import Foundation
import PaystreamDomain

/// What reconciliation found for one item, on `reconciliation.results` (keyed by payment id):
/// `reconciliation-result/v1`. An item is an expected movement (`payment:<payment id>`,
/// `refund:<payment id>:<refund request id>`), with the statement line it was paired with if
/// any, or a statement line nobody expected (`line:<line id>`). A result replaces the earlier
/// results of its `item_id` (higher `revision`); a result that pairs a movement with a line also
/// replaces the results of `line:<that line id>`.
public struct ReconciliationResultMessage: Sendable, Codable, Hashable, WireKeyed {
    public static let schemaName = "reconciliation-result/v1"

    /// The movement as the payment stage recorded it.
    public struct Expected: Sendable, Codable, Hashable, WireKeyed {
        public var movementId: String
        public var amount: Int64
        public var currency: String
        /// The payment's status when the result was decided.
        public var status: String
        /// The channel's fee its contract gives (payments of methods with a configured plan).
        public var fee: Int64?
        public var at: String

        public init(_ movement: ExpectedMovement) {
            movementId = movement.id
            amount = movement.amount
            currency = movement.currency
            status = movement.status
            fee = movement.expectedFee
            at = Wire.timestamp(movement.at)
        }

        enum CodingKeys: String, CodingKey {
            case movementId = "movement_id", amount, currency, status, fee, at
        }
    }

    public var schema: String = ReconciliationResultMessage.schemaName
    /// `rc:<item id>:<revision>`.
    public var eventId: String
    public var itemId: String
    /// 1 for an item's first result, one more for each change of its state or pairing.
    public var revision: Int
    public var occurredAt: String
    /// A `ReconciliationState` raw value.
    public var state: String
    public var paymentId: String
    /// `payment` or `refund`.
    public var type: String
    /// The statement day of its line, else the UTC day of the movement: what
    /// `paystream report reconciliation --date` selects by.
    public var day: String
    public var method: String?
    public var expected: Expected?
    public var line: StatementLine?
    public var detail: String

    public init(eventId: String, itemId: String, revision: Int, occurredAt: String, state: String, paymentId: String, type: String,
                day: String, method: String?, expected: Expected?, line: StatementLine?, detail: String) {
        self.eventId = eventId
        self.itemId = itemId
        self.revision = revision
        self.occurredAt = occurredAt
        self.state = state
        self.paymentId = paymentId
        self.type = type
        self.day = day
        self.method = method
        self.expected = expected
        self.line = line
        self.detail = detail
    }

    enum CodingKeys: String, CodingKey {
        case schema
        case eventId = "event_id"
        case itemId = "item_id"
        case revision
        case occurredAt = "occurred_at"
        case state
        case paymentId = "payment_id"
        case type, day, method, expected, line, detail
    }
}

extension ReconciliationResult {
    /// The item this result is about: its expected movement if it has one, else its line.
    public var itemId: String {
        if let expected { return expected.id }
        return "line:\(line?.lineId ?? paymentId)"
    }

    /// The statement day of its line, else the UTC day of its movement.
    public var day: String {
        if let line { return line.day }
        return String(Wire.timestamp(expected?.at ?? Date(timeIntervalSince1970: 0)).prefix(10))
    }
}

extension Reconciler {
    /// When a `pending` result stops being pending (becomes missing or extra) if nothing else
    /// comes: its movement's time plus the window, or the end of its line's day plus the window.
    /// nil for any other state.
    public static func decidedAt(_ result: ReconciliationResult, window: TimeInterval) -> Date? {
        guard result.state == .pending else { return nil }
        if let expected = result.expected { return expected.at.addingTimeInterval(window) }
        guard let line = result.line, let dayStart = Wire.parseTimestamp("\(line.day)T00:00:00Z") else { return nil }
        return dayStart.addingTimeInterval(86_400 + window)
    }
}
