import PaystreamDomain

// The messages every payment sends between the stages, read by hand (`WireReadable`): the value
// their `Decodable` forms give — a non-optional field is required and not null, an optional one
// absent or null is nil — or a miss, after which `Wire` decodes through `Decodable`. A field
// added to one of these types goes here too; the reader tests compare both forms on random and
// broken values of every type below.

extension PaymentEvent: WireReadable {
    public static func read(_ f: inout WireFieldReader) throws(WireReadMiss) -> PaymentEvent {
        var event = PaymentEvent(
            eventId: try f.string("event_id"), sequence: try f.integer("sequence"), occurredAt: try f.string("occurred_at"),
            type: try f.string("type"), paymentId: try f.string("payment_id"), requestId: try f.stringIfPresent("request_id"),
            orderId: try f.stringIfPresent("order_id"), payerId: try f.stringIfPresent("payer_id"),
            merchantId: try f.stringIfPresent("merchant_id"), amount: try f.integerIfPresent("amount"),
            currency: try f.stringIfPresent("currency"), method: try f.stringIfPresent("method"),
            channel: try f.stringIfPresent("channel"), status: try f.string("status"), reason: try f.stringIfPresent("reason"),
            message: try f.stringIfPresent("message"), channelReference: try f.stringIfPresent("channel_reference"),
            refundAmount: try f.integerIfPresent("refund_amount"), refundedTotal: try f.integerIfPresent("refunded_total"),
            metadata: try f.jsonIfPresent("metadata"), locale: try f.stringIfPresent("locale"))
        event.schema = try f.string("schema")
        return event
    }
}

extension ChannelRequest: WireReadable {
    public static func read(_ f: inout WireFieldReader) throws(WireReadMiss) -> ChannelRequest {
        var request = ChannelRequest(
            requestType: try f.string("request_type"), channelRequestId: try f.string("channel_request_id"),
            paymentId: try f.string("payment_id"), payerId: try f.string("payer_id"), merchantId: try f.string("merchant_id"),
            amount: try f.integer("amount"), currency: try f.string("currency"), method: try f.string("method"),
            channel: try f.string("channel"), requestedAt: try f.string("requested_at"),
            targetRequestId: try f.stringIfPresent("target_request_id"), reason: try f.stringIfPresent("reason"))
        request.schema = try f.string("schema")
        return request
    }
}

extension ChannelConfirmation: WireReadable {
    public static func read(_ f: inout WireFieldReader) throws(WireReadMiss) -> ChannelConfirmation {
        var confirmation = ChannelConfirmation(
            confirmationId: try f.string("confirmation_id"), channelRequestId: try f.string("channel_request_id"),
            paymentId: try f.string("payment_id"), status: try f.string("status"), amount: try f.integer("amount"),
            currency: try f.string("currency"), channelReference: try f.stringIfPresent("channel_reference"),
            reason: try f.stringIfPresent("reason"), message: try f.stringIfPresent("message"),
            confirmedAt: try f.string("confirmed_at"), requestType: try f.stringIfPresent("request_type"))
        confirmation.schema = try f.string("schema")
        return confirmation
    }
}

extension SettlementRequest: WireReadable {
    public static func read(_ f: inout WireFieldReader) throws(WireReadMiss) -> SettlementRequest {
        var request = SettlementRequest(
            eventId: try f.string("event_id"), type: try f.string("type"), paymentId: try f.string("payment_id"),
            orderId: try f.stringIfPresent("order_id"), payerId: try f.string("payer_id"),
            merchantId: try f.string("merchant_id"), amount: try f.integer("amount"), currency: try f.string("currency"),
            method: try f.string("method"), settlement: try f.object("settlement"), splits: try f.array("splits"),
            settlementCurrency: try f.stringIfPresent("settlement_currency"), capturedAt: try f.string("captured_at"),
            sourceEventId: try f.string("source_event_id"), repaymentId: try f.stringIfPresent("repayment_id"),
            payerLocale: try f.stringIfPresent("payer_locale"))
        request.schema = try f.string("schema")
        return request
    }
}

extension SettlementEvent: WireReadable {
    public static func read(_ f: inout WireFieldReader) throws(WireReadMiss) -> SettlementEvent {
        var event = SettlementEvent(
            eventId: try f.string("event_id"), sequence: try f.integer("sequence"), occurredAt: try f.string("occurred_at"),
            type: try f.string("type"), paymentId: try f.string("payment_id"), orderId: try f.stringIfPresent("order_id"),
            payerId: try f.string("payer_id"), merchantId: try f.string("merchant_id"), amount: try f.integer("amount"),
            currency: try f.string("currency"), fee: try f.integer("fee"), commission: try f.integer("commission"),
            net: try f.integer("net"), splits: try f.array("splits"), settlementMode: try f.string("settlement_mode"),
            sourceEventId: try f.string("source_event_id"), pricing: try f.objectIfPresent("pricing"),
            settlementCurrency: try f.stringIfPresent("settlement_currency"), netSettled: try f.integerIfPresent("net_settled"),
            splitsSettled: try f.arrayIfPresent("splits_settled"), fx: try f.objectIfPresent("fx"),
            availableOn: try f.stringIfPresent("available_on"), installmentFinancing: try f.stringIfPresent("installment_financing"),
            installments: try f.arrayIfPresent("installments"), installment: try f.objectIfPresent("installment"),
            reversedTotal: try f.integerIfPresent("reversed_total"), outstanding: try f.integerIfPresent("outstanding"),
            reference: try f.stringIfPresent("reference"), payerLocale: try f.stringIfPresent("payer_locale"))
        event.schema = try f.string("schema")
        return event
    }
}

extension SettlementPricing: WireReadable {
    public static func read(_ f: inout WireFieldReader) throws(WireReadMiss) -> SettlementPricing {
        SettlementPricing(feeBasisPoints: try f.integer("fee_basis_points"), feeFixed: try f.integer("fee_fixed"),
                          feeOnRefund: try f.string("fee_on_refund"), commissionBasisPoints: try f.integer("commission_basis_points"),
                          commissionFixed: try f.integer("commission_fixed"))
    }
}

extension FXSnapshot: WireReadable {
    public static func read(_ f: inout WireFieldReader) throws(WireReadMiss) -> FXSnapshot {
        FXSnapshot(base: try f.string("base"), quote: try f.string("quote"), rate: try f.string("rate"),
                   source: try f.string("source"), asOf: try f.string("as_of"), rounding: try f.string("rounding"),
                   sourceAmount: try f.integer("source_amount"), convertedAmount: try f.integer("converted_amount"))
    }
}

extension InstallmentInfo: WireReadable {
    public static func read(_ f: inout WireFieldReader) throws(WireReadMiss) -> InstallmentInfo {
        InstallmentInfo(number: try f.integer("number"), dueDate: try f.string("due_date"), amount: try f.integer("amount"),
                        paid: try f.integer("paid"), status: try f.string("status"),
                        merchantShare: try f.integerIfPresent("merchant_share"))
    }
}

extension NotificationMessage: WireReadable {
    public static func read(_ f: inout WireFieldReader) throws(WireReadMiss) -> NotificationMessage {
        var message = NotificationMessage(
            eventId: try f.string("event_id"), sourceEventId: try f.string("source_event_id"),
            occurredAt: try f.string("occurred_at"), recipientId: try f.string("recipient_id"),
            recipientType: try f.string("recipient_type"), type: try f.string("type"),
            paymentId: try f.stringIfPresent("payment_id"), payoutId: try f.stringIfPresent("payout_id"),
            orderId: try f.stringIfPresent("order_id"), amount: try f.integerIfPresent("amount"),
            currency: try f.stringIfPresent("currency"), locale: try f.string("locale"), title: try f.string("title"),
            body: try f.string("body"))
        message.schema = try f.string("schema")
        return message
    }
}

extension PaymentRequestMessage: WireReadable {
    public static func read(_ f: inout WireFieldReader) throws(WireReadMiss) -> PaymentRequestMessage {
        PaymentRequestMessage(
            schema: try f.stringIfPresent("schema"), type: try f.stringIfPresent("type"), requestId: try f.stringIfPresent("request_id"),
            paymentId: try f.stringIfPresent("payment_id"), orderId: try f.stringIfPresent("order_id"),
            payerId: try f.stringIfPresent("payer_id"), merchantId: try f.stringIfPresent("merchant_id"),
            amount: try f.integerIfPresent("amount"), currency: try f.stringIfPresent("currency"),
            method: try f.stringIfPresent("method"), channel: try f.stringIfPresent("channel"),
            settlement: try f.objectIfPresent("settlement"), splits: try f.arrayIfPresent("splits"),
            settlementCurrency: try f.stringIfPresent("settlement_currency"), createdAt: try f.stringIfPresent("created_at"),
            metadata: try f.jsonIfPresent("metadata"), repaysPaymentId: try f.stringIfPresent("repays_payment_id"),
            locale: try f.stringIfPresent("locale"))
    }
}

extension SettlementTerms: WireReadable {
    public static func read(_ f: inout WireFieldReader) throws(WireReadMiss) -> SettlementTerms {
        SettlementTerms(mode: try f.string("mode"), installments: try f.integerIfPresent("installments"))
    }
}

extension Split: WireReadable {
    public static func read(_ f: inout WireFieldReader) throws(WireReadMiss) -> Split {
        Split(partyId: try f.string("party_id"), amount: try f.integer("amount"))
    }
}
