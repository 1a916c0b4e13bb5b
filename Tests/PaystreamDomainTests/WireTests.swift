import Foundation
@testable import PaystreamDomain
@testable import PaystreamWire
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
        let disagreements = dates.filter { Timestamp.format($0) != $0.formatted(style) }
            .prefix(5).map { "\($0.timeIntervalSince1970): \(Timestamp.format($0)) vs \($0.formatted(style))" }
        #expect(disagreements == [])
        #expect(Wire.timestamp(Date(timeIntervalSince1970: 1_796_000_000.5)) == "2026-11-30T00:53:20.500Z")
        // Reading our own form back gives the same instant as Foundation's parser, and refuses what is not a time.
        // (Within weeks of 2001-01-01, where Foundation's arithmetic differs in the last bit, its parser decides.)
        let near2001 = (0..<3000).map { Date(timeIntervalSinceReferenceDate: Double($0 - 1500) * 3_000 + Double($0 % 1000) / 1000) }
        let misreadings = (dates.prefix(3000) + near2001).map(Wire.timestamp).filter { Wire.parseTimestamp($0) != (try? style.parse($0)) }
        #expect(misreadings == [])
        for bad in ["2026-02-30T00:00:00.000Z", "2026-13-01T00:00:00.000Z", "2026-11-30T24:00:00.000Z", "2026-11-30T00:00:00.000+", "2026-11-30 00:00:00.000Z"] {
            #expect(Timestamp.parseOwn(bad) == nil, "\(bad)")
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

    @Test("WireKeyed messages are coded byte for byte as with snake_case key conversion, and read back")
    func wireKeyedBytes() throws {
        let converting = JSONEncoder()
        converting.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        converting.keyEncodingStrategy = .convertToSnakeCase
        func same<T: Codable & Equatable & WireKeyed>(_ value: T) throws {
            let bytes = try Wire.encode(value)
            #expect(bytes == (try converting.encode(value)), "\(T.self): \(String(decoding: bytes, as: UTF8.self))")
            #expect(try Wire.decode(T.self, from: bytes) == value)
        }
        try same(PaymentEvent(eventId: "e1", sequence: 2, occurredAt: "2026-11-30T00:00:00.000Z", type: "payment.captured",
                              paymentId: "p1", requestId: "r1", orderId: nil, payerId: "u1", merchantId: "m1", amount: 100,
                              currency: "CNY", method: "card", channel: "bank_card", status: "captured", reason: nil, message: "m",
                              channelReference: "ref", refundAmount: 5, refundedTotal: 5,
                              metadata: .object(["camelKey": .string("v"), "snake_key": .string("w")])))
        try same(ChannelRequest(requestType: "authorize", channelRequestId: "c1", paymentId: "p1", payerId: "u1", merchantId: "m1",
                                amount: 100, currency: "CNY", method: "card", channel: "bank_card",
                                requestedAt: "2026-11-30T00:00:00.000Z", targetRequestId: "c0", reason: "late_capture_reversal"))
        try same(ChannelConfirmation(confirmationId: "cc1", channelRequestId: "c1", paymentId: "p1", status: "approved", amount: 100,
                                     currency: "CNY", channelReference: "ref", reason: nil, message: nil,
                                     confirmedAt: "2026-11-30T00:00:00.000Z", requestType: "authorize"))
        try same(NotificationMessage(eventId: "n1", sourceEventId: "e1", occurredAt: "t", recipientId: "u1", recipientType: "payer",
                                     type: "payment.captured", paymentId: "p1", orderId: "o1", amount: 100, currency: "CNY",
                                     locale: "zh-CN", title: "支付成功", body: "¥1.00"))
        try same(DeadLetterMessage(errorCode: "undecodable", errorMessage: "x/y", sourceTopic: "payments.requests", sourcePartition: 1,
                                   sourceOffset: 7, originalKey: "k", originalValueBase64: "AAE=", failedAt: "t"))
            try same(SettlementRequest(eventId: "s1", type: "capture", paymentId: "p1", orderId: "o1", payerId: "u1", merchantId: "m1",
                                   amount: 100, currency: "CNY", method: "card", settlement: SettlementTerms(.installments, installments: 3),
                                   splits: [Split(partyId: "supplier-1", amount: 10)], settlementCurrency: "USD",
                                   capturedAt: "t", sourceEventId: "e1"))
        try same(SettlementEvent(eventId: "se1", sequence: 1, occurredAt: "t", type: "settlement.booked", paymentId: "p1", orderId: nil,
                                 payerId: "u1", merchantId: "m1", amount: 100, currency: "CNY", fee: 1, commission: 0, net: 89,
                                 splits: [Split(partyId: "supplier-1", amount: 10)], settlementMode: "prepaid", sourceEventId: "s1"))
        // A payment request reads its splits.
        let request = try Wire.decode(PaymentRequestMessage.self, from: Data(#"{"schema":"payment-request/v1","splits":[{"party_id":"c","amount":3}]}"#.utf8))
        #expect(request.splits == [Split(partyId: "c", amount: 3)])
    }
}
