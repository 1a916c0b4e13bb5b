import Foundation
import GRDB
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaystreamLedger
import PaystreamReference
import PaystreamRuntime
import PaystreamStore

/// Everything one input decides, inside the batch transaction: the events it emits (remembered
/// with its request id), and the ledger it changes.
struct PaymentDecision {
    let stage: PaymentStage
    let context: StageContext
    let record: ConsumedRecord?
    var emitted: [String] = []
    /// The refund or cancel request being decided: its events carry its request_id, so the order
    /// system can match them to what it asked.
    var followUpRequestID: String?

    init(stage: PaymentStage, context: StageContext, record: ConsumedRecord?) {
        self.stage = stage
        self.context = context
        self.record = record
    }

    var db: Database { context.db }
    var topics: TopicNames { stage.topics }
    var now: String { context.timestamp }

    // MARK: shared steps

    /// Takes the held money: posts the hold to the beneficiary, records the capture, and hands
    /// a payment to settlement.
    mutating func capture(_ payment: inout PaymentRecord, state: PaymentState, ledger: inout Ledger) throws {
        let amount = state.captured
        let target = beneficiaryID(of: payment, amount.currency)
        try ledger.postHold(payment.holdID, posting: try Posting.transfer(
            PostingID("capture:\(payment.paymentID)"), debit: payment.sourceAccountID, credit: target, amount: amount,
            postedAt: context.now))
        payment.adopt(state, now: now)
        payment.capturedAt = now
        try PaymentTables.update(db, payment)
        let eventID = try emitEvent(for: payment, type: .captured)
        if payment.type == .payment, let merchant = payment.merchantID {
            let handoff = settlementRequest(for: payment, type: .capture, amount: payment.amount,
                                            eventID: MessageID.settlementCapture(payer: payment.payerID, payment: payment.paymentID),
                                            sourceEventID: eventID, merchant: merchant)
            try context.emit(handoff, topic: topics.settlementRequests, key: merchant, eventID: handoff.eventId)
        }
        if payment.type == .repayment { try handOffRepayment(payment, sourceEventID: eventID) }
    }

    func settlementRequest(for payment: PaymentRecord, type: SettlementRequestType, amount: Int64, eventID: String,
                                   sourceEventID: String, merchant: String) -> SettlementRequest {
        SettlementRequest(
            eventId: eventID, type: type.rawValue, paymentId: payment.paymentID, orderId: payment.orderID, payerId: payment.payerID,
            merchantId: merchant, amount: amount, currency: payment.currency, method: payment.method,
            settlement: SettlementTerms(mode: payment.settlementMode, installments: payment.installments),
            splits: type == .capture ? payment.splits : [], settlementCurrency: payment.settlementCurrency,
            capturedAt: payment.capturedAt ?? now, sourceEventId: sourceEventID, payerLocale: payment.locale)
    }

    /// Where captured money goes: settlement for a payment, the wallet for a top-up, the credit
    /// line for a repayment.
    /// The account to open for it when it does not exist yet; nil for a repayment, whose credit
    /// line exists (there is usage to repay) and whose floor follows the reference limit.
    func beneficiary(of payment: PaymentRecord, _ currency: Currency) -> Account? {
        switch payment.type {
        case .topup: .wallet(PaymentRecord.wallet(payment.payerID, currency), currency: currency)
        case .repayment: nil
        default: PaymentRecord.settlementAccount(currency)
        }
    }

    func beneficiaryID(of payment: PaymentRecord, _ currency: Currency) -> AccountID {
        payment.type == .repayment ? PaymentRecord.creditLine(payment.payerID, currency)
            : beneficiary(of: payment, currency)?.id ?? PaymentRecord.settlementAccount(currency).id
    }

    /// The payer's credit line account in the limit's currency with its floor at minus the
    /// limit — or at its available balance, if a lowered limit is already below what is used.
    func creditLine(payerID: String, limit: Money) throws -> Account {
        let id = PaymentRecord.creditLine(payerID, limit.currency)
        let available = try LedgerTables.balance(db, of: id)?.available.minorUnits ?? 0
        return Account(id: id, currency: limit.currency, normalSide: .credit, floor: min(-limit.minorUnits, available))
    }

    /// Opens the accounts a payment books to (a no-op for accounts already open).
    func open(source payment: PaymentRecord, beneficiary: Account?, definitions: [Account], in ledger: inout Ledger) throws {
        for account in definitions where ledger.accounts[account.id] == nil { try ledger.open(account) }
        if let source = payment.sourceAccount, ledger.accounts[source.id] == nil { try ledger.open(source) }
        if let beneficiary, ledger.accounts[beneficiary.id] == nil { try ledger.open(beneficiary) }
    }

    /// Sends an instruction to the payment's channel, keyed by payer like everything here.
    func instruct(_ type: ChannelRequestType, _ payment: PaymentRecord, amount: Int64, currency: String? = nil,
                          suffix: String? = nil, reason: String? = nil) throws {
        let id = "\(payment.paymentID):\(type.rawValue)" + (suffix.map { ":\($0)" } ?? "")
        let instruction = ChannelRequest(
            requestType: type.rawValue, channelRequestId: id, paymentId: payment.paymentID, payerId: payment.payerID,
            merchantId: payment.merchantID ?? "", amount: amount, currency: currency ?? payment.currency, method: payment.method,
            channel: payment.channel, requestedAt: now,
            targetRequestId: type == .authorize ? nil : "\(payment.paymentID):authorize", reason: reason)
        try context.emit(instruction, topic: topics.channelRequests, key: payment.payerID, eventID: "cr:\(id)")
    }

    @discardableResult
    mutating func emitEvent(for payment: PaymentRecord, type: PaymentEventType, reason: String? = nil, message: String? = nil,
                                    refund: Int64? = nil) throws -> String {
        let eventID = MessageID.paymentEvent(payer: payment.payerID, payment: payment.paymentID, sequence: payment.sequence)
        let event = PaymentEvent(
            eventId: eventID, sequence: payment.sequence, occurredAt: now, type: type.rawValue,
            paymentId: payment.paymentID, requestId: followUpRequestID ?? payment.requestID, orderId: payment.orderID,
            payerId: payment.payerID, merchantId: payment.merchantID, amount: payment.amount, currency: payment.currency,
            method: payment.method, channel: payment.channel, status: payment.status.rawValue, reason: reason,
            message: message, channelReference: payment.channelReference, refundAmount: refund,
            refundedTotal: refund == nil ? nil : payment.refunded, metadata: payment.metadata, locale: payment.locale)
        try context.emit(event, topic: topics.paymentEvents, key: payment.payerID, eventID: eventID)
        emitted.append(eventID)
        return eventID
    }
}
