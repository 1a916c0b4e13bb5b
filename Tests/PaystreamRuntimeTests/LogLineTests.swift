import Foundation
@testable import PaystreamRuntime
import PaystreamTesting
import Testing

/// What inputs can put in a log line: control characters escaped (no forged line), values cut to
/// 512 characters, card numbers masked; the log scan finds nothing in the result.
@Suite("log lines")
struct LogLineTests {
    static let card = "4111111111111111"

    @Test("control characters, line separators and ANSI escapes are escaped; a forged second line stays in its value", arguments: LineLogHandler.Format.allCases)
    func controlCharacters(_ format: LineLogHandler.Format) {
        let hostile = "r-1\nts=2026 level=critical msg=\"forged\"\r\u{1b}[31mred\u{7}\u{85}\u{2028}end\t"
        let line = LineLogHandler.line(format: format, time: "t", level: "warning", label: "payment-worker", message: "dead letter \(hostile)",
                                       fields: ["request.id": hostile, "key\nx": "v"])
        #expect(!line.contains("\n") && !line.contains("\r") && !line.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) || $0 == "\u{2028}" },
                "\(line)")
        #expect(line.contains(#"\u{1b}[31mred"#) || line.contains(#"\\u{1b}[31mred"#), "\(line)")
        if format == .logfmt { #expect(line.contains(#"\nts=2026 level=critical"#), "\(line)") }
    }

    @Test("values are cut to 512 characters with the rest counted; card numbers keep their first 6 and last 4 digits; the log scan finds nothing")
    func cutAndMasked() throws {
        let long = String(repeating: "x", count: 2_000)
        let line = LineLogHandler.line(format: .logfmt, time: "t", level: "info", label: "l", message: "m",
                                       fields: ["a": long, "card": "pan \(Self.card) and 5500-0000-0000-0004 and 378282246310005",
                                                "cut": String(repeating: "y", count: 500) + Self.card, "trade": "2026120622001400000000000001"])
        #expect(line.contains("…(1488 more)") && line.count < 2_000, "\(line.count)")
        #expect(line.contains("411111******1111") && line.contains("378282*****0005"), "\(line)")
        #expect(line.contains("2026120622001400000000000001"), "a 28-digit channel reference is not a card number")
        #expect(!line.contains(Self.card) && !line.contains("4111111111"), "a card cut by the limit is masked too: \(line)")
        #expect(LogScan.cardNumbers(in: Substring(line)).isEmpty, "\(line)")
        // Not a card: 12 digits, or a failing check digit.
        #expect(LogSanitizer.clean("123456789012 4111111111111112") == "123456789012 4111111111111112")
    }
}
