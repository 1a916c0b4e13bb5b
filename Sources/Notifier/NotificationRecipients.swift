import Foundation
import PaystreamDomain
import PaystreamWire

/// One notification to make: who gets it, which template renders it and with what.
struct Notice: Sendable, Equatable {
    let recipientType: String
    let recipientId: String
    /// The source event's type: with the recipient type, the template's key.
    let eventType: String
    let variables: [String: String]
    let paymentId: String?
    let payoutId: String?
    let orderId: String?
    let amount: Int64
    let currency: String
    /// The recipient's own locale when the event carries it (a payer's, from the request).
    var preferredLocale: String? = nil
}

/// Who hears of which event (docs/notifications.md has the table), and what each notification's
/// template may use. Pure: an input gives the same notices every time.
public enum NotificationRecipients {
    /// Every (event type, recipient type) that is notified, with the variables its templates may
    /// use. The templates file must have both locales of each, using no other variable.
    public static let table: [(event: String, recipient: String, variables: [String])] = {
        let payment = ["order_id", "payment_id", "merchant_id", "method", "amount"]
        let reason = payment + ["reason"]
        let refund = payment + ["refund_amount", "refunded_total"]
        let installment = ["order_id", "payment_id", "merchant_id", "installment_number", "installment_amount", "due_date"]
        let payout = ["payout_id", "batch_id", "merchant_id", "amount", "payout_date", "reason"]
        return [
            ("payment.captured", "payer", payment), ("payment.captured", "merchant", payment),
            ("payment.failed", "payer", reason), ("payment.expired", "payer", reason), ("payment.cancelled", "payer", reason),
            ("payment.partially_refunded", "payer", refund), ("payment.partially_refunded", "merchant", refund),
            ("payment.refunded", "payer", refund), ("payment.refunded", "merchant", refund),
            ("payment.conflicted", "merchant", reason),
            ("installment.due", "payer", installment), ("installment.paid", "payer", installment),
            ("installment.overdue", "payer", installment),
            ("settlement.booked", "merchant", ["order_id", "payment_id", "merchant_id", "amount", "fee", "commission", "net", "available_on"]),
            ("settlement.booked", "supplier", ["order_id", "payment_id", "merchant_id", "amount", "available_on"]),
            ("batch.closed", "merchant", payout + ["status"]),
            ("payout.sent", "merchant", payout), ("payout.confirmed", "merchant", payout), ("payout.failed", "merchant", payout),
            ("payout.returned", "merchant", payout), ("payout.stuck", "merchant", payout),
            ("payout.confirmed", "supplier", payout),
            ("webhook.endpoint_disabled", "merchant", ["endpoint_id", "url"]),
            ("webhook.endpoint_disabled", "supplier", ["endpoint_id", "url"]),
        ]
    }()

    /// The recipient types the table notifies of `eventType`.
    static func recipients(of eventType: String) -> [String] {
        table.filter { $0.event == eventType }.map(\.recipient)
    }

    static func money(_ amount: Int64, _ code: String) -> String {
        Currency.named(code).map { Money(minorUnits: amount, currency: $0).formatted } ?? "\(code) \(amount)"
    }

    static func notices(for event: PaymentEvent) -> [Notice] {
        guard let type = event.eventType, let amount = event.amount, let currency = event.currency else { return [] }
        var variables = ["order_id": event.orderId ?? event.paymentId, "payment_id": event.paymentId, "merchant_id": event.merchantId ?? "-",
                         "method": event.method ?? "-", "amount": money(amount, currency), "reason": event.reason ?? "-"]
        var noticeAmount = amount
        if let refund = event.refundAmount {
            variables["refund_amount"] = money(refund, currency)
            variables["refunded_total"] = money(event.refundedTotal ?? refund, currency)
            noticeAmount = refund
        }
        return recipients(of: type.rawValue).compactMap { recipientType in
            guard let id = recipientType == "payer" ? event.payerId : event.merchantId, !id.isEmpty else { return nil }
            return Notice(recipientType: recipientType, recipientId: id, eventType: event.type, variables: variables,
                          paymentId: event.paymentId, payoutId: nil, orderId: event.orderId, amount: noticeAmount, currency: currency,
                          preferredLocale: recipientType == "payer" ? event.locale : nil)
        }
    }

    static func notices(for event: SettlementEvent) -> [Notice] {
        let order = event.orderId ?? event.paymentId
        switch event.type {
        case "settlement.booked":
            let settled = event.settlementCurrency ?? event.currency
            var notices = [Notice(
                recipientType: "merchant", recipientId: event.merchantId, eventType: event.type,
                variables: ["order_id": order, "payment_id": event.paymentId, "merchant_id": event.merchantId,
                            "amount": money(event.amount, event.currency), "fee": money(event.fee, event.currency),
                            "commission": money(event.commission, event.currency),
                            "net": money(event.netSettled ?? event.net, settled), "available_on": event.availableOn ?? "-"],
                paymentId: event.paymentId, payoutId: nil, orderId: event.orderId, amount: event.amount, currency: event.currency)]
            let splits = event.splitsSettled ?? event.splits
            let splitCurrency = event.splitsSettled == nil ? event.currency : settled
            for split in splits {
                notices.append(Notice(
                    recipientType: "supplier", recipientId: split.partyId, eventType: event.type,
                    variables: ["order_id": order, "payment_id": event.paymentId, "merchant_id": event.merchantId,
                                "amount": money(split.amount, splitCurrency), "available_on": event.availableOn ?? "-"],
                    paymentId: event.paymentId, payoutId: nil, orderId: event.orderId, amount: split.amount, currency: splitCurrency))
            }
            return notices
        case "installment.due", "installment.paid", "installment.overdue":
            guard let installment = event.installment else { return [] }
            return [Notice(
                recipientType: "payer", recipientId: event.payerId, eventType: event.type,
                variables: ["order_id": order, "payment_id": event.paymentId, "merchant_id": event.merchantId,
                            "installment_number": "\(installment.number)",
                            "installment_amount": money(installment.amount, event.currency), "due_date": installment.dueDate],
                paymentId: event.paymentId, payoutId: nil, orderId: event.orderId, amount: installment.amount, currency: event.currency,
                preferredLocale: event.payerLocale)]
        default:
            return []
        }
    }

    /// The owner of an endpoint that answered 410 hears that it was disabled.
    static func notice(disabling endpoint: WebhookEndpointReference) -> Notice {
        Notice(recipientType: endpoint.ownerType, recipientId: endpoint.ownerId, eventType: "webhook.endpoint_disabled",
               variables: ["endpoint_id": endpoint.endpointId, "url": endpoint.url], paymentId: nil, payoutId: nil, orderId: nil,
               amount: 0, currency: "")
    }

    static func notices(for event: PayoutEvent) -> [Notice] {
        // The payee hears of its own batch or payout when the table says its role does.
        guard recipients(of: event.type).contains(event.payeeRole) else { return [] }
        let recipient = event.payeeRole
        var variables = ["payout_id": event.payoutId ?? event.batchId, "batch_id": event.batchId, "merchant_id": event.merchantId,
                         "amount": money(event.amount, event.currency), "payout_date": event.payoutDate, "reason": event.reason ?? "-"]
        if event.type == "batch.closed" { variables["status"] = event.status }
        return [Notice(recipientType: recipient, recipientId: event.payeeId, eventType: event.type, variables: variables,
                       paymentId: nil, payoutId: event.payoutId ?? event.batchId, orderId: nil, amount: event.amount, currency: event.currency)]
    }
}
