import PaystreamDomain

// The messages every payment sends between the stages, written by hand (`WireWritable`): the same
// bytes as their `Encodable` forms, members in the byte order of their keys ("_" sorts before the
// letters: `payer_id` < `payment_id`). A field added to one of these types goes here too; the
// writer tests compare both forms on random values of every type below.

extension PaymentEvent: WireWritable {
    public func write(to object: inout WireObjectWriter) throws {
        object.integer("amount", amount)
        object.string("channel", channel)
        object.string("channel_reference", channelReference)
        object.string("currency", currency)
        object.string("event_id", eventId)
        object.stringIfPresent("locale", locale)
        object.string("merchant_id", merchantId)
        object.string("message", message)
        try object.json("metadata", metadata ?? .object([:]))
        object.string("method", method)
        object.string("occurred_at", occurredAt)
        object.string("order_id", orderId)
        object.string("payer_id", payerId)
        object.string("payment_id", paymentId)
        object.string("reason", reason)
        object.integer("refund_amount", refundAmount)
        object.integer("refunded_total", refundedTotal)
        object.string("request_id", requestId)
        object.string("schema", schema)
        object.integer("sequence", sequence)
        object.string("status", status)
        object.string("type", type)
    }
}

extension ChannelRequest: WireWritable {
    public func write(to object: inout WireObjectWriter) throws {
        object.integer("amount", amount)
        object.string("channel", channel)
        object.string("channel_request_id", channelRequestId)
        object.string("currency", currency)
        object.string("merchant_id", merchantId)
        object.string("method", method)
        object.string("payer_id", payerId)
        object.string("payment_id", paymentId)
        object.stringIfPresent("reason", reason)
        object.string("request_type", requestType)
        object.string("requested_at", requestedAt)
        object.string("schema", schema)
        object.stringIfPresent("target_request_id", targetRequestId)
    }
}

extension ChannelConfirmation: WireWritable {
    public func write(to object: inout WireObjectWriter) throws {
        object.integer("amount", amount)
        object.stringIfPresent("channel_reference", channelReference)
        object.string("channel_request_id", channelRequestId)
        object.string("confirmation_id", confirmationId)
        object.string("confirmed_at", confirmedAt)
        object.string("currency", currency)
        object.stringIfPresent("message", message)
        object.string("payment_id", paymentId)
        object.stringIfPresent("reason", reason)
        object.stringIfPresent("request_type", requestType)
        object.string("schema", schema)
        object.string("status", status)
    }
}

extension SettlementRequest: WireWritable {
    public func write(to object: inout WireObjectWriter) throws {
        object.integer("amount", amount)
        object.string("captured_at", capturedAt)
        object.string("currency", currency)
        object.string("event_id", eventId)
        object.string("merchant_id", merchantId)
        object.string("method", method)
        object.stringIfPresent("order_id", orderId)
        object.string("payer_id", payerId)
        object.stringIfPresent("payer_locale", payerLocale)
        object.string("payment_id", paymentId)
        object.stringIfPresent("repayment_id", repaymentId)
        object.string("schema", schema)
        try object.object("settlement", settlement)
        object.stringIfPresent("settlement_currency", settlementCurrency)
        object.string("source_event_id", sourceEventId)
        try object.array("splits", splits)
        object.string("type", type)
    }
}

extension SettlementEvent: WireWritable {
    public func write(to object: inout WireObjectWriter) throws {
        object.integer("amount", amount)
        object.stringIfPresent("available_on", availableOn)
        object.integer("commission", commission)
        object.string("currency", currency)
        object.string("event_id", eventId)
        object.integer("fee", fee)
        try object.objectIfPresent("fx", fx)
        try object.objectIfPresent("installment", installment)
        object.stringIfPresent("installment_financing", installmentFinancing)
        try object.arrayIfPresent("installments", installments)
        object.string("merchant_id", merchantId)
        object.integer("net", net)
        object.integerIfPresent("net_settled", netSettled)
        object.string("occurred_at", occurredAt)
        object.stringIfPresent("order_id", orderId)
        object.integerIfPresent("outstanding", outstanding)
        object.string("payer_id", payerId)
        object.stringIfPresent("payer_locale", payerLocale)
        object.string("payment_id", paymentId)
        try object.objectIfPresent("pricing", pricing)
        object.stringIfPresent("reference", reference)
        object.integerIfPresent("reversed_total", reversedTotal)
        object.string("schema", schema)
        object.integer("sequence", sequence)
        object.stringIfPresent("settlement_currency", settlementCurrency)
        object.string("settlement_mode", settlementMode)
        object.string("source_event_id", sourceEventId)
        try object.array("splits", splits)
        try object.arrayIfPresent("splits_settled", splitsSettled)
        object.string("type", type)
    }
}

extension SettlementPricing: WireWritable {
    public func write(to object: inout WireObjectWriter) throws {
        object.integer("commission_basis_points", commissionBasisPoints)
        object.integer("commission_fixed", commissionFixed)
        object.integer("fee_basis_points", feeBasisPoints)
        object.integer("fee_fixed", feeFixed)
        object.string("fee_on_refund", feeOnRefund)
    }
}

extension FXSnapshot: WireWritable {
    public func write(to object: inout WireObjectWriter) throws {
        object.string("as_of", asOf)
        object.string("base", base)
        object.integer("converted_amount", convertedAmount)
        object.string("quote", quote)
        object.string("rate", rate)
        object.string("rounding", rounding)
        object.string("source", source)
        object.integer("source_amount", sourceAmount)
    }
}

extension InstallmentInfo: WireWritable {
    public func write(to object: inout WireObjectWriter) throws {
        object.integer("amount", amount)
        object.string("due_date", dueDate)
        object.integerIfPresent("merchant_share", merchantShare)
        object.integer("number", number)
        object.integer("paid", paid)
        object.string("status", status)
    }
}

extension NotificationMessage: WireWritable {
    public func write(to object: inout WireObjectWriter) throws {
        object.integerIfPresent("amount", amount)
        object.string("body", body)
        object.stringIfPresent("currency", currency)
        object.string("event_id", eventId)
        object.string("locale", locale)
        object.string("occurred_at", occurredAt)
        object.stringIfPresent("order_id", orderId)
        object.stringIfPresent("payment_id", paymentId)
        object.stringIfPresent("payout_id", payoutId)
        object.string("recipient_id", recipientId)
        object.string("recipient_type", recipientType)
        object.string("schema", schema)
        object.string("source_event_id", sourceEventId)
        object.string("title", title)
        object.string("type", type)
    }
}

extension PaymentRequestMessage: WireWritable {
    public func write(to object: inout WireObjectWriter) throws {
        object.integerIfPresent("amount", amount)
        object.stringIfPresent("channel", channel)
        object.stringIfPresent("created_at", createdAt)
        object.stringIfPresent("currency", currency)
        object.stringIfPresent("locale", locale)
        object.stringIfPresent("merchant_id", merchantId)
        try object.jsonIfPresent("metadata", metadata)
        object.stringIfPresent("method", method)
        object.stringIfPresent("order_id", orderId)
        object.stringIfPresent("payer_id", payerId)
        object.stringIfPresent("payment_id", paymentId)
        object.stringIfPresent("repays_payment_id", repaysPaymentId)
        object.stringIfPresent("request_id", requestId)
        object.stringIfPresent("schema", schema)
        try object.objectIfPresent("settlement", settlement)
        object.stringIfPresent("settlement_currency", settlementCurrency)
        try object.arrayIfPresent("splits", splits)
        object.stringIfPresent("type", type)
    }
}

extension SettlementTerms: WireWritable {
    public func write(to object: inout WireObjectWriter) throws {
        object.integerIfPresent("installments", installments)
        object.string("mode", mode)
    }
}

extension Split: WireWritable {
    public func write(to object: inout WireObjectWriter) throws {
        object.integer("amount", amount)
        object.string("party_id", partyId)
    }
}
