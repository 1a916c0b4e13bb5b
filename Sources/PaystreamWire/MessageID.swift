import PaystreamDomain

/// The ids of messages about a payment. Order systems choose payment and request ids, and they are
/// unique per payer only: two payers may both send `pay-1`. Every id that leaves the payer's
/// shard therefore names the payer too, so that settlement, notifications and any consumer that
/// deduplicates by `event_id` never take one payer's payment for another's.
///
/// Each part is escaped (`%` → `%25`, `:` → `%3A`), so that ids made of different parts never
/// coincide; ids of ordinary parts read as they are: `pe:user-42:pay-1001:2`.
public enum MessageID {
    /// A payment's event: `pe:<payer>:<payment>:<sequence>`.
    public static func paymentEvent(payer: String, payment: String, sequence: Int) -> String {
        "pe:\(part(payer)):\(part(payment)):\(sequence)"
    }

    /// The rejection of a request: `rj:<payer>:<request>` (an empty payer part when the request
    /// named none).
    public static func rejection(payer: String?, request: String) -> String {
        "rj:\(part(payer ?? "")):\(part(request))"
    }

    /// The hand-off of a capture to settlement: `sr:<payer>:<payment>:capture`.
    public static func settlementCapture(payer: String, payment: String) -> String {
        "sr:\(part(payer)):\(part(payment)):capture"
    }

    /// The hand-off of a refund to settlement: `sr:<payer>:<payment>:refund:<refund request>`.
    public static func settlementRefund(payer: String, payment: String, refundRequest: String) -> String {
        "sr:\(part(payer)):\(part(payment)):refund:\(part(refundRequest))"
    }

    /// The hand-off of a repayment's part to settlement:
    /// `sr:<payer>:<payment>:repayment:<repayment>` (`payment` is the one repaid).
    public static func settlementRepayment(payer: String, payment: String, repayment: String) -> String {
        "sr:\(part(payer)):\(part(payment)):repayment:\(part(repayment))"
    }

    /// A settlement event after the booking: `se:<payer>:<payment>:<sequence>` (2, 3, …).
    public static func settlementEvent(payer: String, payment: String, sequence: Int) -> String {
        "se:\(part(payer)):\(part(payment)):\(sequence)"
    }

    /// A booked settlement: `se:<payer>:<payment>:booked`.
    public static func settlementBooked(payer: String, payment: String) -> String {
        "se:\(part(payer)):\(part(payment)):booked"
    }

    /// One part of an id, escaped.
    public static func part(_ text: String) -> String {
        guard needsEscaping(text) else { return text }
        return text.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: ":", with: "%3A")
    }

    /// Whether `text` has a `%` or `:` character. An ASCII text (nearly every id) is scanned by
    /// its bytes, where each byte is a character; any other text by its characters, as ids have
    /// always been escaped (a `:` followed by a combining mark is one other character there), so
    /// that the id of a payment never changes.
    static func needsEscaping(_ text: String) -> Bool {
        let utf8 = text.utf8
        if utf8.allSatisfy({ $0 < 0x80 }) { return utf8.contains { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: ":") } }
        return text.contains(where: { $0 == "%" || $0 == ":" })
    }
}
