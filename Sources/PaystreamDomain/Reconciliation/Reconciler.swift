import Foundation

/// What the payment stage recorded about money through a channel: a capture or a refund.
public struct ExpectedMovement: Sendable, Hashable, Codable {
    /// Stable: `payment:<payment id>`, or `refund:<payment id>:<refund request id>`.
    public let id: String
    public let paymentId: String
    /// `payment` or `refund`.
    public let type: String
    public let amount: Int64
    public let currency: String
    /// The payment's status now: a line for a payment that is not `captured`/`*refunded` is a
    /// status mismatch.
    public let status: String
    /// The refund's id, when the channel's statement can name it.
    public let refundReference: String?
    /// The fee the channel's contract gives, when known; nil: not checked.
    public let expectedFee: Int64?
    /// When the movement happened: inside the window it may still be missing from statements.
    public let at: Date

    public init(id: String? = nil, paymentId: String, type: String, amount: Int64, currency: String, status: String,
                refundReference: String? = nil, expectedFee: Int64? = nil, at: Date) {
        self.id = id ?? (type == "payment" ? "payment:\(paymentId)" : "refund:\(paymentId):\(refundReference ?? "\(amount)")")
        self.paymentId = paymentId
        self.type = type
        self.amount = amount
        self.currency = currency
        self.status = status
        self.refundReference = refundReference
        self.expectedFee = expectedFee
        self.at = at
    }
}

/// How a statement line or an expected movement came out.
public enum ReconciliationState: String, Sendable, CaseIterable, Codable {
    case matched
    /// Recorded by us, absent from the channel's statement past the window.
    case missingInChannel = "missing_in_channel"
    /// On the statement, unknown to us past the window.
    case extraInChannel = "extra_in_channel"
    case amountMismatch = "amount_mismatch"
    case feeMismatch = "fee_mismatch"
    /// The channel took money for a payment we hold failed, expired, cancelled or conflicted.
    case statusMismatch = "status_mismatch"
    /// The same movement twice on the statements.
    case duplicate
    /// Inside the timing window: the other side may still come.
    case pending
}

public struct ReconciliationResult: Sendable, Hashable {
    public let state: ReconciliationState
    public let paymentId: String
    public let type: String
    public let expected: ExpectedMovement?
    public let line: StatementLine?
    public let detail: String
}

/// Matches statement lines with expected movements, payment by payment. Rules:
/// - a payment line matches the payment's capture; a refund line the refund with its reference,
///   else the first unmatched refund of the same amount, else the first unmatched refund;
/// - a second line for a movement already matched (or the same `line_id` twice) is `duplicate`;
/// - a matched pair with another amount or currency is `amount_mismatch`; with the amount right
///   and a known expected fee that differs, `fee_mismatch`; a payment line whose payment is not
///   captured (or refunded) is `status_mismatch`;
/// - an unmatched expected movement is `missing_in_channel` once older than `window`, else
///   `pending`; an unmatched line is `extra_in_channel` once its day ended more than `window`
///   ago, else `pending`.
public enum Reconciler {
    public static let paidStatuses: Set<String> = ["captured", "partially_refunded", "refunded"]

    public static func reconcile(expected: [ExpectedMovement], lines: [StatementLine], now: Date, window: TimeInterval) -> [ReconciliationResult] {
        var results: [ReconciliationResult] = []
        var unmatched = expected
        var seen = Set<String>()
        for line in lines {
            guard seen.insert(line.lineId).inserted else {
                results.append(.init(state: .duplicate, paymentId: line.paymentId, type: line.type, expected: nil, line: line,
                                     detail: "line \(line.lineId) appears twice"))
                continue
            }
            let candidates = unmatched.indices.filter { unmatched[$0].paymentId == line.paymentId && unmatched[$0].type == line.type }
            let pick: Int? = line.type == "payment" ? candidates.first
                : candidates.first { line.refundReference != nil && unmatched[$0].refundReference == line.refundReference }
                    ?? candidates.first { unmatched[$0].amount == line.amount } ?? candidates.first
            guard let index = pick else {
                let matchedBefore = results.contains { $0.line?.paymentId == line.paymentId && $0.type == line.type && $0.expected != nil }
                if line.type == "payment" && matchedBefore {
                    results.append(.init(state: .duplicate, paymentId: line.paymentId, type: line.type, expected: nil, line: line,
                                         detail: "a second payment line for \(line.paymentId)"))
                } else if let dayEnd = Timestamp.parse("\(line.day)T00:00:00Z")?.addingTimeInterval(86_400), now.timeIntervalSince(dayEnd) < window {
                    results.append(.init(state: .pending, paymentId: line.paymentId, type: line.type, expected: nil, line: line,
                                         detail: "not recorded by us yet; inside the window"))
                } else {
                    results.append(.init(state: .extraInChannel, paymentId: line.paymentId, type: line.type, expected: nil, line: line,
                                         detail: "the channel shows \(line.type) \(line.amount) \(line.currency), we recorded none"))
                }
                continue
            }
            let movement = unmatched.remove(at: index)
            let state: ReconciliationState
            var detail = "agrees"
            if movement.amount != line.amount || movement.currency != line.currency {
                state = .amountMismatch
                detail = "we recorded \(movement.amount) \(movement.currency), the channel \(line.amount) \(line.currency)"
            } else if line.type == "payment" && !paidStatuses.contains(movement.status) {
                state = .statusMismatch
                detail = "the channel took the money; the payment is \(movement.status)"
            } else if let fee = movement.expectedFee, fee != line.fee {
                state = .feeMismatch
                detail = "expected fee \(fee), the channel charged \(line.fee)"
            } else {
                state = .matched
            }
            results.append(.init(state: state, paymentId: line.paymentId, type: line.type, expected: movement, line: line, detail: detail))
        }
        for movement in unmatched where movement.type == "refund" || paidStatuses.contains(movement.status) {
            let late = now.timeIntervalSince(movement.at) >= window
            results.append(.init(state: late ? .missingInChannel : .pending, paymentId: movement.paymentId, type: movement.type,
                                 expected: movement, line: nil,
                                 detail: late ? "recorded \(movement.amount) \(movement.currency); not on the channel's statements"
                                     : "recorded; the statement may still come"))
        }
        return results
    }
}
