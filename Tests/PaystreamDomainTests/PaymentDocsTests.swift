import Foundation
import PaystreamDomain
import PaystreamWire
import Testing

/// docs/payments.md must keep up with the code: every reason code documented, and the capability
/// matrix table equal to the shipped policy.
struct PaymentDocsTests {
    static func document() throws -> String {
        let folder = SchemaFileTests.schemasFolder().deletingLastPathComponent()
        return try String(contentsOf: folder.appendingPathComponent("payments.md"), encoding: .utf8)
    }

    @Test("docs/payments.md documents every reason code and every payment status")
    func reasonsAndStates() throws {
        let text = try Self.document()
        for reason in RejectionReason.allCases { #expect(text.contains("| `\(reason.rawValue)` |"), "\(reason.rawValue)") }
        for status in PaymentStatus.allCases { #expect(text.contains(status.rawValue), "\(status.rawValue)") }
    }

    @Test("docs/payments.md documents every event type; each status is reached by its own event type")
    func eventTypes() throws {
        let text = try Self.document()
        for type in PaymentEventType.allCases { #expect(text.contains("`\(type.rawValue)`"), "\(type.rawValue)") }
        for status in PaymentStatus.allCases {
            #expect(PaymentEventType(reaching: status).rawValue == "payment.\(status.rawValue)")
        }
        // The wire keeps the string: an event of a type this version does not know still decodes.
        var event = PaymentEvent(eventId: "pe:u:p:9", sequence: 9, occurredAt: "2026-11-30T00:00:00.000Z", type: "payment.disputed",
                                 paymentId: "p", requestId: nil, orderId: nil, payerId: "u", merchantId: nil, amount: nil,
                                 currency: nil, method: nil, channel: nil, status: "captured")
        event = try Wire.decode(PaymentEvent.self, from: try Wire.encode(event))
        #expect(event.type == "payment.disputed" && event.eventType == nil)
        #expect(SettlementRequestType.allCases.map(\.rawValue) == ["capture", "refund", "repayment"])
        for type in SettlementRequestType.allCases { #expect(text.contains("`\(type.rawValue)`"), "\(type.rawValue)") }
        #expect(text.contains("`repays_payment_id`"))
        for mode in SettlementMode.allCases { #expect(text.contains("`\(mode.rawValue)`"), "\(mode.rawValue)") }
        #expect(SettlementTerms(mode: "weekly").settlementMode == nil && SettlementTerms(.installments, installments: 3).mode == "installments")
    }

    @Test("the capability matrix in docs/payments.md is the shipped policy's")
    func matrix() throws {
        let folder = SchemaFileTests.schemasFolder().deletingLastPathComponent().deletingLastPathComponent()
        let policy = try PaymentPolicy.decode(from: Data(contentsOf: folder.appendingPathComponent("Config/payment-policy.json")))
        let text = try Self.document()
        var rows = 0
        for (method, channels) in policy.capabilities {
            for (channel, currencies) in channels {
                let maxima = currencies.map { "\($0) \(policy.methodMaximum[method]?[$0] ?? -1)" }.joined(separator: ", ")
                let row = "| `\(method)` | `\(channel)` | \(currencies.joined(separator: ", ")) | \(maxima) | \(policy.refundWindowDays[method] ?? -1) |"
                #expect(text.contains(row), "missing or different: \(row)")
                rows += 1
            }
        }
        let documented = text.split(separator: "\n").filter { line in
            PaymentMethod.allCases.contains { line.hasPrefix("| `\($0.rawValue)` | `") }
        }
        #expect(documented.count == rows)
    }
}
