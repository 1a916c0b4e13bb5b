import Foundation
import PaystreamTesting
import Testing

/// The log scan the fault run ends with: it finds a card number and a secret, and passes what
/// daemons normally log.
@Suite("log scan")
struct LogScanTests {
    @Test("Luhn-valid 13–19 digit runs starting 2–6 are card numbers; offsets, timestamps and ids are not; a secret is found without being printed")
    func scan() throws {
        #expect(FuzzInput.cardNumbers.allSatisfy { LogScan.luhnValid($0) })
        #expect(!LogScan.luhnValid("4111111111111112"))
        #expect(LogScan.cardNumbers(in: "order_id=4111111111111111 x") == ["4111111111111111"])
        #expect(LogScan.cardNumbers(in: "ts=1796054872944 kafka.offset=123 pay-ord-1009 id=41111111111111111111").isEmpty)
        let directory = try temporaryDirectory("logscan")
        try """
            ts=2026-11-30T10:00:00Z level=info msg="ready" kafka.partitions=[0, 1]
            ts=2026-11-30T10:00:01Z level=warning msg="dead letter" error.message="card 5555555555554444"
            ts=2026-11-30T10:00:02Z level=info msg="oops" password=s3cret-value
            """.write(toFile: "\(directory)/a.log", atomically: true, encoding: .utf8)
        let findings = try LogScan.scan(directory: directory, secrets: ["s3cret-value"])
        #expect(findings.map(\.description) == ["a.log:2: a card number (555555…4444)", "a.log:3: configured secret #1"])
        #expect(!findings.map(\.description).joined().contains("s3cret-value"))
    }

    @Test("a raw control character and a line forged by input are findings; their escaped forms are not")
    func controlCharacters() throws {
        let directory = try temporaryDirectory("logscan")
        let escaped = #"ts=2026-11-30T10:00:00Z level=warning msg="dead letter" key="x\nFORGED-LINE level=critical\u001B[31m""#
        let raw = "ts=2026-11-30T10:00:01Z level=warning msg=\"dead letter\" key=\"x\u{1B}[31m\""
        let forged = "FORGED-LINE level=critical msg=\"forged\""
        try [escaped, raw, forged].joined(separator: "\n").write(toFile: "\(directory)/b.log", atomically: true, encoding: .utf8)
        let findings = try LogScan.scan(directory: directory, secrets: [])
        #expect(findings.map(\.description) == ["b.log:2: a raw control character (U+001B)", "b.log:3: a line forged by input"])
    }
}
