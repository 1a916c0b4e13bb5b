import Foundation
import PaystreamDomain
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
