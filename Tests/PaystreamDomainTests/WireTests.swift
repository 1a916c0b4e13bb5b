import Foundation
@testable import PaystreamDomain
import Testing

@Suite("Wire coding")
struct WireTests {
    @Test("timestamps: the integer formatter agrees with Foundation's ISO 8601 style, 1900–2200, before and after the epoch, to the millisecond")
    func timestampsAgree() {
        let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt)
        var random = SystemRandomNumberGenerator()
        var dates: [Date] = [Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: -0.001), Date(timeIntervalSince1970: 951_782_400),
                             Date(timeIntervalSince1970: 1_796_000_000.9999), Date(timeIntervalSince1970: -2_208_988_800)]
        for _ in 0..<20_000 {
            dates.append(Date(timeIntervalSince1970: Double.random(in: -2_208_988_800...7_258_118_400, using: &random)))
        }
        for _ in 0..<2_000 {
            // Whole milliseconds, as the clock and ManualClock give them.
            dates.append(Date(timeIntervalSince1970: Double(Int64.random(in: -2_208_988_800_000...7_258_118_400_000, using: &random)) / 1000))
        }
        let disagreements = dates.filter { Wire.format($0) != $0.formatted(style) }
            .prefix(5).map { "\($0.timeIntervalSince1970): \(Wire.format($0)) vs \($0.formatted(style))" }
        #expect(disagreements == [])
        #expect(Wire.timestamp(Date(timeIntervalSince1970: 1_796_000_000.5)) == "2026-11-30T00:53:20.500Z")
        // Reading our own form back gives the same instant as Foundation's parser, and refuses what is not a time.
        let misreadings = dates.prefix(3000).map(Wire.timestamp).filter { Wire.parseOwnTimestamp($0) != (try? style.parse($0)) }
        #expect(misreadings == [])
        for bad in ["2026-02-30T00:00:00.000Z", "2026-13-01T00:00:00.000Z", "2026-11-30T24:00:00.000Z", "2026-11-30T00:00:00.000+", "2026-11-30 00:00:00.000Z"] {
            #expect(Wire.parseOwnTimestamp(bad) == nil, "\(bad)")
        }
        // Other RFC 3339 forms still go through Foundation's parser.
        #expect(Wire.parseTimestamp("2026-11-30T08:00:00+08:00") == Date(timeIntervalSince1970: 1_795_996_800))
        #expect(Wire.parseTimestamp("2026-11-30T00:00:00Z") == Date(timeIntervalSince1970: 1_795_996_800))
        // The memo of the last time formatted never hands out another time's text.
        #expect(Wire.timestamp(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000Z")
        #expect(Wire.timestamp(Date(timeIntervalSince1970: 1_796_000_000.5)) == "2026-11-30T00:53:20.500Z")
    }

    @Test("decodeMessage: one parse tells a good message, a non-object, a missing or other schema, and a bad field apart")
    func decodeMessage() {
        struct Message: Decodable, Equatable {
            var schema: String
            var paymentId: String
        }
        func check(_ text: String) -> String {
            switch Wire.decodeMessage(Message.self, schema: "m/v1", from: Data(text.utf8)) {
            case .decoded(let message): "decoded \(message.paymentId)"
            case .notAnObjectWithSchema: "not an object with a schema"
            case .otherSchema(let schema): "schema \(schema)"
            case .invalid(let error): "invalid \(Wire.describe(error))"
            }
        }
        #expect(check(#"{"schema":"m/v1","payment_id":"p1"}"#) == "decoded p1")
        #expect(check("[1,2]") == "not an object with a schema")
        #expect(check("not json") == "not an object with a schema")
        #expect(check(#"{"payment_id":"p1"}"#) == "not an object with a schema")
        #expect(check(#"{"schema":7,"payment_id":"p1"}"#) == "not an object with a schema")
        #expect(check(#"{"schema":"m/v2","payment_id":"p1"}"#) == "schema m/v2")
        #expect(check(#"{"schema":"m/v1","payment_id":5}"#).hasPrefix("invalid paymentId") || check(#"{"schema":"m/v1","payment_id":5}"#).hasPrefix("invalid payment_id"))
    }
}
