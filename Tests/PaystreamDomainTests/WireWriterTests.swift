import Foundation
import PaystreamDomain
@testable import PaystreamWire
import Testing

/// The hand-written message writers (`WireWritable`) against the `Encodable` forms of the same
/// values: `WireJSONEncoder`'s bytes and Foundation's, on random values with every optional field
/// present or absent, every string drawn from escapes, non-ASCII and key-like pieces.
@Suite("hand-written message writers give the Encodable bytes")
struct WireWriterTests {
    struct Draw {
        var random: SeededRandom
        mutating func string() -> String { WireJSONTests.randomString(&random) }
        mutating func maybeString() -> String? { Bool.random(using: &random) ? string() : nil }
        mutating func integer() -> Int64 {
            Bool.random(using: &random) ? Int64.random(in: -1_000_000...1_000_000, using: &random)
                : [Int64.min, Int64.max, 0, -1, 10, 99, 100].randomElement(using: &random)!
        }
        mutating func maybeInteger() -> Int64? { Bool.random(using: &random) ? integer() : nil }
        mutating func int() -> Int { Int(integer()) }
        mutating func maybe<T>(_ make: (inout Draw) -> T) -> T? { Bool.random(using: &random) ? make(&self) : nil }
        mutating func json() -> JSONValue { WireJSONTests.randomJSON(&random) }
        mutating func splits() -> [Split] {
            (0..<Int.random(in: 0...3, using: &random)).map { _ in Split(partyId: string(), amount: integer()) }
        }
        mutating func terms() -> SettlementTerms { SettlementTerms(mode: string(), installments: maybeInteger().map(Int.init)) }
        mutating func installment() -> InstallmentInfo {
            InstallmentInfo(number: int(), dueDate: string(), amount: integer(), paid: integer(), status: string(),
                            merchantShare: maybeInteger())
        }
    }

    static func compare<T: WireWritable & Equatable & Decodable>(_ value: T) throws -> String? {
        let written = try WireObjectWriter.bytes(of: value)
        let encoded = try WireJSONEncoder.encode(value, convertingKeys: false)
        let foundation = try WireJSONTests.foundationKeyed.encode(value)
        guard Data(written) == encoded, encoded == foundation else {
            return "\(T.self): written \(String(decoding: written, as: UTF8.self))\n  encoded \(String(decoding: encoded, as: UTF8.self))"
        }
        guard try Wire.encode(value) == encoded else { return "\(T.self): Wire.encode does not take the writer's bytes" }
        // Read back, as a consumer reads it (equal to `value` only up to what the type writes for
        // nil: a payment event's absent metadata is written as {}).
        _ = try Wire.decode(T.self, from: Data(written), strict: true)
        return nil
    }

    @Test("every writable message on random values: the bytes of WireJSONEncoder and of Foundation's JSONEncoder")
    func randomMessages() throws {
        let failures = try forAllCases("writers", cases: 300) { random, _ in
            var d = Draw(random: random)
            defer { random = d.random }
            let checks: [String?] = [
                try Self.compare(PaymentEvent(
                    eventId: d.string(), sequence: d.int(), occurredAt: d.string(), type: d.string(), paymentId: d.string(),
                    requestId: d.maybeString(), orderId: d.maybeString(), payerId: d.maybeString(), merchantId: d.maybeString(),
                    amount: d.maybeInteger(), currency: d.maybeString(), method: d.maybeString(), channel: d.maybeString(),
                    status: d.string(), reason: d.maybeString(), message: d.maybeString(), channelReference: d.maybeString(),
                    refundAmount: d.maybeInteger(), refundedTotal: d.maybeInteger(), metadata: d.maybe { $0.json() },
                    locale: d.maybeString())),
                try Self.compare(ChannelRequest(
                    requestType: d.string(), channelRequestId: d.string(), paymentId: d.string(), payerId: d.string(),
                    merchantId: d.string(), amount: d.integer(), currency: d.string(), method: d.string(), channel: d.string(),
                    requestedAt: d.string(), targetRequestId: d.maybeString(), reason: d.maybeString())),
                try Self.compare(ChannelConfirmation(
                    confirmationId: d.string(), channelRequestId: d.string(), paymentId: d.string(), status: d.string(),
                    amount: d.integer(), currency: d.string(), channelReference: d.maybeString(), reason: d.maybeString(),
                    message: d.maybeString(), confirmedAt: d.string(), requestType: d.maybeString())),
                try Self.compare(SettlementRequest(
                    eventId: d.string(), type: d.string(), paymentId: d.string(), orderId: d.maybeString(), payerId: d.string(),
                    merchantId: d.string(), amount: d.integer(), currency: d.string(), method: d.string(), settlement: d.terms(),
                    splits: d.splits(), settlementCurrency: d.maybeString(), capturedAt: d.string(), sourceEventId: d.string(),
                    repaymentId: d.maybeString(), payerLocale: d.maybeString())),
                try Self.compare(SettlementEvent(
                    eventId: d.string(), sequence: d.int(), occurredAt: d.string(), type: d.string(), paymentId: d.string(),
                    orderId: d.maybeString(), payerId: d.string(), merchantId: d.string(), amount: d.integer(), currency: d.string(),
                    fee: d.integer(), commission: d.integer(), net: d.integer(), splits: d.splits(), settlementMode: d.string(),
                    sourceEventId: d.string(),
                    pricing: d.maybe { d in
                        SettlementPricing(feeBasisPoints: d.integer(), feeFixed: d.integer(), feeOnRefund: d.string(),
                                          commissionBasisPoints: d.integer(), commissionFixed: d.integer())
                    },
                    settlementCurrency: d.maybeString(), netSettled: d.maybeInteger(), splitsSettled: d.maybe { $0.splits() },
                    fx: d.maybe { d in
                        FXSnapshot(base: d.string(), quote: d.string(), rate: d.string(), source: d.string(), asOf: d.string(),
                                   rounding: d.string(), sourceAmount: d.integer(), convertedAmount: d.integer())
                    },
                    availableOn: d.maybeString(), installmentFinancing: d.maybeString(),
                    installments: d.maybe { d in (0..<Int.random(in: 0...3, using: &d.random)).map { _ in d.installment() } },
                    installment: d.maybe { $0.installment() }, reversedTotal: d.maybeInteger(), outstanding: d.maybeInteger(),
                    reference: d.maybeString(), payerLocale: d.maybeString())),
                try Self.compare(NotificationMessage(
                    eventId: d.string(), sourceEventId: d.string(), occurredAt: d.string(), recipientId: d.string(),
                    recipientType: d.string(), type: d.string(), paymentId: d.maybeString(), payoutId: d.maybeString(),
                    orderId: d.maybeString(), amount: d.maybeInteger(), currency: d.maybeString(), locale: d.string(),
                    title: d.string(), body: d.string())),
                try Self.compare(PaymentRequestMessage(
                    schema: d.maybeString(), type: d.maybeString(), requestId: d.maybeString(), paymentId: d.maybeString(),
                    orderId: d.maybeString(), payerId: d.maybeString(), merchantId: d.maybeString(), amount: d.maybeInteger(),
                    currency: d.maybeString(), method: d.maybeString(), channel: d.maybeString(), settlement: d.maybe { $0.terms() },
                    splits: d.maybe { $0.splits() }, settlementCurrency: d.maybeString(), createdAt: d.maybeString(),
                    metadata: d.maybe { $0.json() }, repaysPaymentId: d.maybeString(), locale: d.maybeString())),
            ]
            return checks.compactMap { $0 }.first
        }
        #expect(failures.isEmpty, "\(failures)")
    }

    @Test("integers are written as their description, the extremes included")
    func integers() {
        var values: [Int64] = [0, 1, -1, 9, 10, -10, 99, 100, Int64.max, Int64.min, Int64.max - 1, Int64.min + 1]
        var random = SeededRandom(seed: 7)
        for _ in 0..<2000 {
            values.append(Int64.random(in: Int64.min...Int64.max, using: &random) >> Int64.random(in: 0...63, using: &random))
        }
        for value in values {
            var out: [UInt8] = []
            WireEncodingState.appendInteger(value, to: &out)
            #expect(String(decoding: out, as: UTF8.self) == value.description)
        }
    }

    @Test("a metadata value that is not a finite number is refused, as the encoder refuses it")
    func nonFinite() {
        let event = PaymentEvent(eventId: "e", sequence: 1, occurredAt: "t", type: "payment.captured", paymentId: "p",
                                 requestId: nil, orderId: nil, payerId: nil, merchantId: nil, amount: nil, currency: nil,
                                 method: nil, channel: nil, status: "captured", metadata: .object(["x": .number(.nan)]))
        #expect(throws: EncodingError.self) { try Wire.encode(event) }
        #expect(throws: EncodingError.self) { try WireJSONEncoder.encode(event, convertingKeys: false) }
    }
}
