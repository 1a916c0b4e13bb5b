import PaystreamDomain

/// A payment as the payment stage stores it.
public struct PaymentRecord: Sendable, Equatable {
    public var paymentID: String
    public var requestID: String
    public var orderID: String?
    public var payerID: String
    public var merchantID: String
    public var amount: Int64
    public var currency: String
    public var method: String
    public var channel: String
    public var settlementMode: String
    public var installments: Int?
    public var splits: [Split]
    public var settlementCurrency: String?
    public var metadata: JSONValue?
    public var status: PaymentStatus
    public var sequence: Int
    public var channelReference: String?
    public var createdAt: String
    public var updatedAt: String

    init(request: PaymentRequest, status: PaymentStatus, sequence: Int, now: String) {
        paymentID = request.paymentID
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
        self.status = status
        self.sequence = sequence
        channelReference = nil
        createdAt = now
        updatedAt = now
    }

    init(paymentID: String, requestID: String, orderID: String?, payerID: String, merchantID: String, amount: Int64,
         currency: String, method: String, channel: String, settlementMode: String, installments: Int?, splits: [Split],
         settlementCurrency: String?, metadata: JSONValue?, status: PaymentStatus, sequence: Int,
         channelReference: String?, createdAt: String, updatedAt: String) {
        self.paymentID = paymentID
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
        self.status = status
        self.sequence = sequence
        self.channelReference = channelReference
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}
