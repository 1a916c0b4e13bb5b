import Foundation
import PaystreamDomain
@testable import PaystreamWire
import Testing

/// The hand-written message readers (`WireReadable`) against `Decodable` through
/// `WireJSONDecoder`: on the bytes of random messages the reader must give the value, and on
/// those bytes broken in every way a sender could break them (a field missing, null, of another
/// type, twice, under another spelling or escaped, a member it does not know) it must give the
/// value `Decodable` gives, or give up — never another value, never accept what `Decodable`
/// refuses.
@Suite("hand-written message readers give the Decodable values")
struct WireReaderTests {
    /// One random value of every readable message type, with its encoded bytes.
    static func messages(_ d: inout WireWriterTests.Draw) throws -> [(name: String, bytes: Data, check: (Data, Bool) throws -> String?)] {
        func entry<T: WireReadable & Encodable & Equatable>(_ value: T) throws -> (name: String, bytes: Data, check: (Data, Bool) throws -> String?) {
            (String(describing: T.self), try Wire.encode(value), { bytes, strict in try compare(T.self, bytes, strict: strict) })
        }
        return [
            try entry(d.paymentEvent()), try entry(d.channelRequest()), try entry(d.channelConfirmation()),
            try entry(d.settlementRequest()), try entry(d.settlementEvent()), try entry(d.notification()),
            try entry(d.paymentRequest()),
        ]
    }

    /// nil when the reader gave `Decodable`'s value or gave up; a description otherwise.
    static func compare<T: WireReadable & Equatable>(_ type: T.Type, _ bytes: Data, strict: Bool) throws -> String? {
        let slow = Result { try WireJSONDecoder.decode(T.self, from: bytes, convertingKeys: false, strict: strict) }
        let viaWire = Result { try Wire.decode(T.self, from: bytes, strict: strict) }
        switch (slow, viaWire) {
        case (.success(let a), .success(let b)) where a == b: break
        case (.failure(let a), .failure(let b)) where Wire.describe(a) == Wire.describe(b): break
        default: return "\(T.self) strict \(strict): Wire.decode \(viaWire) vs Decodable \(slow) on \(String(decoding: bytes, as: UTF8.self))"
        }
        if let quick = Wire.quickRead(T.self, from: bytes, schema: nil, strict: strict) {
            guard case .success(let value) = slow, value == quick else {
                return "\(T.self) strict \(strict): the reader gave \(quick), Decodable \(slow) on \(String(decoding: bytes, as: UTF8.self))"
            }
        }
        return nil
    }

    /// The ways a member can be broken, applied to the message's JSON text.
    static func broken(_ bytes: Data, _ random: inout SeededRandom) throws -> Data {
        var object = try Wire.decodePlain([String: JSONValue].self, from: bytes)
        let keys = object.keys.sorted()
        let key = keys.randomElement(using: &random)!
        switch Int.random(in: 0..<9, using: &random) {
        case 0: object[key] = nil
        case 1: object[key] = .null
        case 2: object[key] = .integer(Int64.random(in: -5...5, using: &random))
        case 3: object[key] = .string("7")
        case 4: object[key] = .number(1.5)
        case 5: object[["extra", "schemaVersion", "Amount", "amount_minor"].randomElement(using: &random)!] = .string("x")
        case 6: object[key] = .object(["x": .integer(1)])
        case 7:
            // The same key twice: the first member counts for a lenient reader.
            let text = String(decoding: try Wire.encode(object), as: UTF8.self)
            let first = "\"\(key)\":\(String(decoding: try Wire.encode(JSONValue.string("dup")), as: UTF8.self)),"
            return Data(("{" + first + text.dropFirst()).utf8)
        default:
            // The key written with an escape: the same key to every JSON reader.
            let text = String(decoding: try Wire.encode(object), as: UTF8.self)
            let escaped = "\"\\u00\(String(key.utf8.first!, radix: 16))\(key.dropFirst())\":"
            return Data(text.replacingOccurrences(of: "\"\(key)\":", with: escaped).utf8)
        }
        return try Wire.encode(object)
    }

    @Test("random messages: the reader takes them, and gives Decodable's value")
    func clean() throws {
        let failures = try forAllCases("readers", cases: 300) { random, _ in
            var d = WireWriterTests.Draw(random: random)
            defer { random = d.random }
            for message in try Self.messages(&d) {
                if let failure = try message.check(message.bytes, Bool.random(using: &d.random)) { return failure }
            }
            return nil
        }
        #expect(failures.isEmpty, "\(failures)")
        // The readers are used: a clean message never falls back.
        var d = WireWriterTests.Draw(random: SeededRandom(seed: 11))
        for _ in 0..<50 {
            // (Without metadata: JSON numbers and null are normalized by any reader.)
            let event = d.settlementEvent()
            var request = d.paymentRequest()
            request.metadata = nil
            #expect(Wire.quickRead(SettlementEvent.self, from: try Wire.encode(event), schema: nil, strict: true) == event)
            #expect(Wire.quickRead(PaymentRequestMessage.self, from: try Wire.encode(request), schema: nil, strict: true) == request)
        }
    }

    @Test("broken messages: the reader gives Decodable's value or gives up, and Wire's result is Decodable's, error included")
    func brokenMessages() throws {
        let failures = try forAllCases("broken readers", cases: 400) { random, _ in
            var d = WireWriterTests.Draw(random: random)
            defer { random = d.random }
            for message in try Self.messages(&d) {
                var bytes = message.bytes
                for _ in 0..<Int.random(in: 1...2, using: &d.random) { bytes = try Self.broken(bytes, &d.random) }
                if let failure = try message.check(bytes, Bool.random(using: &d.random)) { return failure }
            }
            return nil
        }
        #expect(failures.isEmpty, "\(failures)")
    }

    @Test("a message read by schema: the reader's value when the schema is the one expected; another schema and broken text as before")
    func schemas() throws {
        var d = WireWriterTests.Draw(random: SeededRandom(seed: 5))
        var request = d.channelRequest()
        let decoded = Wire.decodeMessage(ChannelRequest.self, schema: ChannelRequest.schemaName, from: try Wire.encode(request))
        guard case .decoded(let value) = decoded else { Issue.record("\(decoded)"); return }
        #expect(value == request)
        request.schema = "channel-request/v9"
        guard case .otherSchema(let schema) = Wire.decodeMessage(ChannelRequest.self, schema: ChannelRequest.schemaName,
                                                                 from: try Wire.encode(request)) else {
            Issue.record("another schema is not reported as one"); return
        }
        #expect(schema == "channel-request/v9")
        guard case .notAnObjectWithSchema = Wire.decodeMessage(ChannelRequest.self, schema: ChannelRequest.schemaName,
                                                               from: Data("{\"schema\":".utf8)) else {
            Issue.record("broken text is not reported as such"); return
        }
        var event = d.paymentEvent()
        event.amount = nil
        var text = String(decoding: try Wire.encode(event), as: UTF8.self)
        text = text.replacingOccurrences(of: "\"amount\":null", with: "\"amount\":\"12\"")
        guard case .invalid(let error) = Wire.decodeMessage(PaymentEvent.self, schema: PaymentEvent.schemaName, from: Data(text.utf8)) else {
            Issue.record("a field of another type is not reported invalid"); return
        }
        #expect(Wire.describe(error).contains("amount"))
    }
}

extension WireWriterTests.Draw {
    mutating func paymentEvent() -> PaymentEvent {
        PaymentEvent(eventId: string(), sequence: int(), occurredAt: string(), type: string(), paymentId: string(),
                     requestId: maybeString(), orderId: maybeString(), payerId: maybeString(), merchantId: maybeString(),
                     amount: maybeInteger(), currency: maybeString(), method: maybeString(), channel: maybeString(),
                     status: string(), reason: maybeString(), message: maybeString(), channelReference: maybeString(),
                     refundAmount: maybeInteger(), refundedTotal: maybeInteger(), metadata: .object(["k": json()]),
                     locale: maybeString())
    }

    mutating func channelRequest() -> ChannelRequest {
        ChannelRequest(requestType: string(), channelRequestId: string(), paymentId: string(), payerId: string(),
                       merchantId: string(), amount: integer(), currency: string(), method: string(), channel: string(),
                       requestedAt: string(), targetRequestId: maybeString(), reason: maybeString())
    }

    mutating func channelConfirmation() -> ChannelConfirmation {
        ChannelConfirmation(confirmationId: string(), channelRequestId: string(), paymentId: string(), status: string(),
                            amount: integer(), currency: string(), channelReference: maybeString(), reason: maybeString(),
                            message: maybeString(), confirmedAt: string(), requestType: maybeString())
    }

    mutating func settlementRequest() -> SettlementRequest {
        SettlementRequest(eventId: string(), type: string(), paymentId: string(), orderId: maybeString(), payerId: string(),
                          merchantId: string(), amount: integer(), currency: string(), method: string(), settlement: terms(),
                          splits: splits(), settlementCurrency: maybeString(), capturedAt: string(), sourceEventId: string(),
                          repaymentId: maybeString(), payerLocale: maybeString())
    }

    mutating func settlementEvent() -> SettlementEvent {
        SettlementEvent(
            eventId: string(), sequence: int(), occurredAt: string(), type: string(), paymentId: string(),
            orderId: maybeString(), payerId: string(), merchantId: string(), amount: integer(), currency: string(),
            fee: integer(), commission: integer(), net: integer(), splits: splits(), settlementMode: string(),
            sourceEventId: string(),
            pricing: maybe { d in
                SettlementPricing(feeBasisPoints: d.integer(), feeFixed: d.integer(), feeOnRefund: d.string(),
                                  commissionBasisPoints: d.integer(), commissionFixed: d.integer())
            },
            settlementCurrency: maybeString(), netSettled: maybeInteger(), splitsSettled: maybe { $0.splits() },
            fx: maybe { d in
                FXSnapshot(base: d.string(), quote: d.string(), rate: d.string(), source: d.string(), asOf: d.string(),
                           rounding: d.string(), sourceAmount: d.integer(), convertedAmount: d.integer())
            },
            availableOn: maybeString(), installmentFinancing: maybeString(),
            installments: maybe { d in (0..<Int.random(in: 0...3, using: &d.random)).map { _ in d.installment() } },
            installment: maybe { $0.installment() }, reversedTotal: maybeInteger(), outstanding: maybeInteger(),
            reference: maybeString(), payerLocale: maybeString())
    }

    mutating func notification() -> NotificationMessage {
        NotificationMessage(eventId: string(), sourceEventId: string(), occurredAt: string(), recipientId: string(),
                            recipientType: string(), type: string(), paymentId: maybeString(), payoutId: maybeString(),
                            orderId: maybeString(), amount: maybeInteger(), currency: maybeString(), locale: string(),
                            title: string(), body: string())
    }

    mutating func paymentRequest() -> PaymentRequestMessage {
        PaymentRequestMessage(schema: maybeString(), type: maybeString(), requestId: maybeString(), paymentId: maybeString(),
                              orderId: maybeString(), payerId: maybeString(), merchantId: maybeString(), amount: maybeInteger(),
                              currency: maybeString(), method: maybeString(), channel: maybeString(), settlement: maybe { $0.terms() },
                              splits: maybe { $0.splits() }, settlementCurrency: maybeString(), createdAt: maybeString(),
                              metadata: maybe { $0.json() }, repaysPaymentId: maybeString(), locale: maybeString())
    }
}
