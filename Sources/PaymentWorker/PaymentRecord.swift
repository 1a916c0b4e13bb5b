import Foundation
import PaystreamDomain
import PaystreamLedger
import PaystreamReference
import PaystreamRuntime

/// Where the money of a payment comes from, which decides its hold's account and whether a
/// channel is asked.
public enum Funding: String, Sendable, Codable {
    /// A payment channel (card network, Alipay, WeChat Pay, online banking, the courier for cash):
    /// an instruction on `channel.requests`, captured on the channel's answer.
    case channel
    /// The payer's wallet: held and captured at once.
    case wallet
    /// The payer's credit line (post-paid and installment payments): held and captured at once.
    case credit
}

/// A payment (or top-up, or repayment) as the payment stage stores it.
public struct PaymentRecord: Sendable, Equatable {
    public var paymentID: String
    public var type: PaymentRequestType
    public var requestID: String
    public var orderID: String?
    public var payerID: String
    /// nil for a top-up or repayment.
    public var merchantID: String?
    public var amount: Int64
    public var currency: String
    public var method: String
    public var channel: String
    public var settlementMode: String
    public var installments: Int?
    public var splits: [Split]
    public var settlementCurrency: String?
    public var metadata: JSONValue?
    /// The payer's locale for notifications, from the request; carried on every event.
    public var locale: String?
    public var funding: Funding
    public var status: PaymentStatus
    public var sequence: Int
    public var captured: Int64
    public var refunded: Int64
    public var lateCapture: PaymentState.ReportedAmount?
    public var channelReference: String?
    public var createdAt: String
    public var updatedAt: String
    public var capturedAt: String?
    /// When the stage last asked the channel what became of the authorization.
    public var queriedAt: String?
    /// When the expiry timer next looks at this authorization; nil once it is decided.
    public var nextCheckAt: String?

    init(request: PaymentRequest, funding: Funding, now: String, nextCheckAt: String?) {
        paymentID = request.paymentID
        type = request.type
        requestID = request.requestID
        orderID = request.orderID
        payerID = request.payerID
        merchantID = request.merchantID
        amount = request.amount.minorUnits
        currency = request.amount.currency.code
        method = request.method.rawValue
        channel = request.channel.rawValue
        settlementMode = request.settlement.mode
        installments = request.settlement.installments
        splits = request.splits
        settlementCurrency = request.settlementCurrency
        metadata = request.metadata
        locale = request.locale
        self.funding = funding
        status = .authorized
        sequence = 1
        captured = 0
        refunded = 0
        lateCapture = nil
        channelReference = nil
        createdAt = now
        updatedAt = now
        capturedAt = nil
        queriedAt = nil
        self.nextCheckAt = nextCheckAt
    }

    init(paymentID: String, type: PaymentRequestType, requestID: String, orderID: String?, payerID: String,
         merchantID: String?, amount: Int64, currency: String, method: String, channel: String, settlementMode: String,
         installments: Int?, splits: [Split], settlementCurrency: String?, metadata: JSONValue?, funding: Funding,
         status: PaymentStatus, sequence: Int, captured: Int64, refunded: Int64, lateCapture: PaymentState.ReportedAmount?,
         channelReference: String?, createdAt: String, updatedAt: String, capturedAt: String?, queriedAt: String?,
         nextCheckAt: String?) {
        self.paymentID = paymentID
        self.type = type
        self.requestID = requestID
        self.orderID = orderID
        self.payerID = payerID
        self.merchantID = merchantID
        self.amount = amount
        self.currency = currency
        self.method = method
        self.channel = channel
        self.settlementMode = settlementMode
        self.installments = installments
        self.splits = splits
        self.settlementCurrency = settlementCurrency
        self.metadata = metadata
        self.funding = funding
        self.status = status
        self.sequence = sequence
        self.captured = captured
        self.refunded = refunded
        self.lateCapture = lateCapture
        self.channelReference = channelReference
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.capturedAt = capturedAt
        self.queriedAt = queriedAt
        self.nextCheckAt = nextCheckAt
    }

    public var money: Money? { Currency.named(currency).map { Money(minorUnits: amount, currency: $0) } }

    /// The payment as its state machine sees it. Throws for a stored row the machine could never
    /// have produced (the record is then dead-lettered rather than acted on).
    public func state() throws -> PaymentState {
        guard let money else { throw DeadLetter(code: "corrupt_state", message: "payment \(paymentID) is stored in an unknown currency \(currency)") }
        do {
            return try PaymentState(status: status, authorized: money,
                                    captured: Money(minorUnits: captured, currency: money.currency),
                                    refunded: Money(minorUnits: refunded, currency: money.currency),
                                    sequence: sequence, lateCapture: lateCapture)
        } catch {
            throw DeadLetter(code: "corrupt_state", message: "payment \(paymentID) is stored in an impossible state: \(error)")
        }
    }

    /// Takes status, amounts and sequence from `state`.
    mutating func adopt(_ state: PaymentState, now: String) {
        status = state.status
        sequence = state.sequence
        captured = state.captured.minorUnits
        refunded = state.refunded.minorUnits
        lateCapture = state.lateCapture
        updatedAt = now
        if status != .authorized { nextCheckAt = nil }
    }

    // MARK: ledger accounts

    /// The account the authorization holds and the capture takes from.
    var sourceAccount: Account? {
        guard let currency = Currency.named(currency) else { return nil }
        switch funding {
        case .wallet: return .wallet(Self.wallet(payerID, currency), currency: currency)
        case .credit: return nil  // its floor follows the limit: PaymentStage builds it
        case .channel: return Self.channelAccount(method: method, currency: currency)
        }
    }

    var sourceAccountID: AccountID {
        let code = Currency.named(currency) ?? Currency(code: currency, numericCode: 0, minorUnits: 0)
        switch funding {
        case .wallet: return Self.wallet(payerID, code)
        case .credit: return Self.creditLine(payerID, code)
        case .channel: return Self.channelAccount(method: method, currency: code).id
        }
    }

    var holdID: HoldID { HoldID("auth:\(paymentID)") }

    static func wallet(_ payer: String, _ currency: Currency) -> AccountID { AccountID("wallet:\(payer):\(currency.code)") }
    static func creditLine(_ payer: String, _ currency: Currency) -> AccountID { AccountID("credit:\(payer):\(currency.code)") }

    /// The platform's position with a channel in one currency: credit-normal without a floor, so
    /// a capture (a debit) takes it below zero — what the channel owes the platform.
    static func channelAccount(method: String, currency: Currency) -> Account {
        Account(id: AccountID("channel:\(method):\(currency.code)"), currency: currency, normalSide: .credit)
    }

    /// What the payment stage owes the settlement stage (captured payments not refunded).
    static func settlementAccount(_ currency: Currency) -> Account {
        Account(id: AccountID("settlement:\(currency.code)"), currency: currency, normalSide: .credit)
    }

    /// Refunds a channel refused: owed to payers until someone settles them by hand.
    static func refundsOwedAccount(_ currency: Currency) -> Account {
        Account(id: AccountID("refunds_owed:\(currency.code)"), currency: currency, normalSide: .credit)
    }

    /// Money a channel took after its payment expired or was cancelled and then refused to give
    /// back: owed to the payer until someone settles it by hand.
    /// The id of the automatic refund that gives back a late capture. Its reason says so until a
    /// channel refuses it (then the reason is the channel's), so the id is what tells it apart.
    static func lateCaptureRefundID(_ paymentID: String) -> String { "\(paymentID):late-capture" }

    static func lateCaptureAccount(_ currency: Currency) -> Account {
        Account(id: AccountID("late_capture:\(currency.code)"), currency: currency, normalSide: .credit)
    }
}
