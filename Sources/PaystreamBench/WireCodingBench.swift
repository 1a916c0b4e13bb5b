import Foundation
import PaystreamDomain
import PaystreamWire

/// The JSON coding every record pays for, on its own: a payment event (what payment-worker
/// writes and settlement-worker and notifier read) and a payment request (read with snake_case
/// conversion), encoded and decoded by `Wire` and by Foundation's coders with the same options,
/// in microseconds per message (the best of `repeats` runs of `count`).
struct WireCodingBench: Sendable {
    let count: Int
    let repeats: Int

    struct Figure: Sendable {
        var what: String
        var wireMicroseconds: Double
        var foundationMicroseconds: Double
    }

    static let event = PaymentEvent(
        eventId: "pe:user-1:pm-1:2", sequence: 2, occurredAt: "2026-11-30T00:00:00.000Z", type: "payment.captured",
        paymentId: "pm-bench-burst1-1234", requestId: "rq-bench-burst1-1234", orderId: "ord-bench-burst1-1234",
        payerId: "bench-burst1-1234", merchantId: "m-4", amount: 2234, currency: "CNY", method: "card", channel: "bank_card",
        status: "captured", channelReference: "sbx-ref-1234")

    static let request = Data("""
        {"amount":2234,"channel":"bank_card","created_at":"2026-11-30T00:00:00Z","currency":"CNY","merchant_id":"m-4",\
        "method":"card","order_id":"ord-bench-burst1-1234","payer_id":"bench-burst1-1234","payment_id":"pm-bench-burst1-1234",\
        "request_id":"rq-bench-burst1-1234","schema":"payment-request/v1","type":"payment"}
        """.utf8)

    func run() throws -> [Figure] {
        let keyed = JSONEncoder()
        keyed.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let plain = JSONDecoder()
        let snake = JSONDecoder()
        snake.keyDecodingStrategy = .convertFromSnakeCase
        let eventBytes = try Wire.encode(Self.event)
        return [
            Figure(what: "encode payment event",
                   wireMicroseconds: try time { _ = try Wire.encode(Self.event) },
                   foundationMicroseconds: try time { _ = try keyed.encode(Self.event) }),
            Figure(what: "decode payment event",
                   wireMicroseconds: try time { _ = try Wire.decode(PaymentEvent.self, from: eventBytes) },
                   foundationMicroseconds: try time { _ = try plain.decode(PaymentEvent.self, from: eventBytes) }),
            Figure(what: "decode payment request (snake_case)",
                   wireMicroseconds: try time { _ = try Wire.decode(PaymentRequestMessage.self, from: Self.request) },
                   foundationMicroseconds: try time { _ = try snake.decode(PaymentRequestMessage.self, from: Self.request) }),
        ]
    }

    private func time(_ body: () throws -> Void) throws -> Double {
        var best = Double.infinity
        for _ in 0..<repeats {
            let start = ContinuousClock.now
            for _ in 0..<count { try body() }
            best = min(best, BenchRun.seconds(ContinuousClock.now - start) / Double(count) * 1e6)
        }
        return best
    }
}
