import Foundation
import PaystreamDomain
@testable import PaystreamWire
import Testing

@Suite("message ids")
struct MessageIDTests {
    static let pieces = ["a", "Z", "0", "-", "_", "%", ":", "%3A", "\u{301}", "é", "中", "😀", "\r\n", "\n", " ", "pay-1", "\u{200d}"]

    @Test("a part is escaped when it has a % or : character, judged as before for every text (ASCII by its bytes)")
    func escaping() {
        let failures = forAllCases("message id parts", cases: 2000) { random, _ in
            let text = (0..<Int.random(in: 0...6, using: &random)).map { _ in Self.pieces.randomElement(using: &random)! }.joined()
            let before = text.contains(where: { $0 == "%" || $0 == ":" })
            guard MessageID.needsEscaping(text) == before else { return "'\(text.debugDescription)': \(!before) instead of \(before)" }
            let escaped = MessageID.part(text)
            if before {
                guard escaped == text.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: ":", with: "%3A") else {
                    return "'\(text.debugDescription)' escaped as \(escaped.debugDescription)"
                }
            } else if escaped != text {
                return "'\(text.debugDescription)' changed to \(escaped.debugDescription)"
            }
            return nil
        }
        #expect(failures.isEmpty, "\(failures)")
        #expect(MessageID.paymentEvent(payer: "user-42", payment: "pay-1001", sequence: 2) == "pe:user-42:pay-1001:2")
        #expect(MessageID.paymentEvent(payer: "a:b", payment: "100%", sequence: 1) == "pe:a%3Ab:100%25:1")
    }
}
