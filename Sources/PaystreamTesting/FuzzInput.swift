import Foundation
import PaystreamRuntime

/// Hostile records for the pipeline's input topics, from a seed: random bytes, truncated JSON,
/// wrong types, huge strings, unknown schemas, boundary amounts, unicode and empty keys, keys that
/// differ from the body. Every one must be answered by a rejection event or a dead letter, and no
/// worker may stop on any of them.
public struct FuzzInput: Sendable {
    public struct Record: Sendable {
        public let topic: String
        public let key: String
        public let value: Data
        /// What the record is, for messages.
        public let kind: String
    }

    private var random: SeededRandom

    public init(seed: UInt64) { random = SeededRandom(state: seed &+ 0x9E37_79B9_7F4A_7C15) }

    /// The next pseudo-random number (splitmix64).
    public mutating func next() -> UInt64 { random.next() }

    mutating func pick<T>(_ choices: [T]) -> T { choices[Int(next() % UInt64(choices.count))] }

    static let keys = ["", "用户-7", "👾", "user-1", "payer with spaces", String(repeating: "k", count: 300),
                       "\(cardNumbers[0])\(forgedLine)"]

    /// Text that would start a log line of its own if a newline got into a log unescaped (the
    /// log scan looks for lines that begin with `FORGED-LINE`), with a terminal escape, a
    /// carriage return and a Unicode line separator besides.
    public static let forgedLine = "\nFORGED-LINE level=critical msg=\"forged\"\r\u{1B}[31m\u{2028}\u{7F}"

    /// `count` hostile records for `topic`. Payment requests include well-formed requests with
    /// boundary amounts and keys that differ from their payer (answered by events); every other
    /// topic gets only records that cannot be decoded (answered by dead letters).
    public mutating func records(for topic: String, topics: TopicNames, count: Int, kind only: String? = nil) -> [Record] {
        (0..<count).map { i in
            let key = pick(Self.keys + ["fz-\(i)"])
            let id = "fz-\(topic)-\(i)-\(next() % 1_000_000)"
            var kinds = ["random bytes", "truncated", "wrong types", "huge string", "unknown schema", "not an object", "log injection",
                         "oversized record"]
            if topic == topics.paymentRequests {
                kinds += ["boundary amount", "key differs from payer", "unicode fields", "card number", "duplicate key", "non-canonical key",
                          "oversized metadata"]
            }
            let kind = only ?? pick(kinds)
            return Record(topic: topic, key: key, value: value(kind: kind, id: id, key: key, topic: topic, topics: topics), kind: kind)
        }
    }

    private mutating func value(kind: String, id: String, key: String, topic: String, topics: TopicNames) -> Data {
        let schema = schemaName(of: topic, topics: topics)
        switch kind {
        case "random bytes":
            return Data((0..<Int(1 + next() % 200)).map { _ in UInt8(truncatingIfNeeded: next()) })
        case "truncated":
            let full = #"{"schema":"\#(schema)","type":"payment","request_id":"\#(id)","payer_id":"user-1","amount":100}"#
            return Data(full.utf8.prefix(Int(1 + next() % UInt64(full.utf8.count - 1))))
        case "wrong types":
            return Data(#"{"schema":"\#(schema)","request_id":7,"payer_id":["x"],"amount":"lots","currency":false,"event_id":{}}"#.utf8)
        case "huge string":
            return Data(#"{"schema":"\#(schema)","request_id":"\#(id)","payer_id":"\#(String(repeating: "x", count: 100_000))"}"#.utf8)
        case "unknown schema":
            return Data(#"{"schema":"\#(schema.replacingOccurrences(of: "/v1", with: "/v9"))","request_id":"\#(id)"}"#.utf8)
        case "not an object":
            return Data(pick([#"[1,2,3]"#, #""just a string""#, "null", "42", ""]).utf8)
        case "boundary amount":
            let amount = pick(["0", "1", "-1", "\(Int64.max)", "9223372036854775808", "1.5", "1e3"])
            return request(id: id, payer: key.isEmpty ? "user-1" : key, amount: amount)
        case "key differs from payer":
            return request(id: id, payer: "someone-else-\(next() % 100)", amount: "100")
        case "card number":
            // A card number where none belongs (order id, merchant), and an amount of 0: rejected,
            // and the number must not reach any log (the fault run scans them).
            return request(id: id, payer: key.isEmpty ? "user-1" : key, amount: "0", merchant: Self.cardNumbers[Int(next() % 3)],
                           order: Self.cardNumbers[Int(next() % 3)])
        case "log injection":
            // Card numbers and control characters in every field a log line may quote: the key
            // (above), ids, codes, metadata; the amount makes a well-formed request a rejection.
            let hostile = Self.cardNumbers[Int(next() % 3)] + Self.forgedLine
            let fields = ["request_id", "payment_id", "payer_id", "merchant_id", "order_id", "currency", "method", "channel", "type",
                          "event_id", "confirmation_id", "channel_request_id", "settlement_request_id", "payout_id", "status", "reason",
                          "message", "locale", "created_at", "settlement_currency"]
            var object: [String: Any] = ["schema": schema, "amount": 0, "metadata": ["note": hostile, hostile: hostile]]
            for field in fields { object[field] = field == "request_id" ? id + hostile : hostile }
            if topic == topics.paymentRequests {
                object["payer_id"] = key.isEmpty ? "user-1" : key
            } else {
                // Elsewhere an unknown schema, which the dead letter's message quotes.
                object["schema"] = schema + hostile
            }
            return try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        case "oversized record":
            // Over input.max_record_bytes (256 KiB): dead-lettered before any decision.
            return Data(#"{"schema":"\#(schema)","request_id":"\#(id)","metadata":{"p":"\#(String(repeating: "o", count: 300 * 1024))"}}"#.utf8)
        case "duplicate key":
            let payer = key.isEmpty ? "user-1" : key
            var text = String(decoding: request(id: id, payer: payer, amount: "100"), as: UTF8.self)
            text.removeLast()
            return Data((text + #","amount":1}"#).utf8)
        case "non-canonical key":
            var text = String(decoding: request(id: id, payer: key.isEmpty ? "user-1" : key, amount: "100"), as: UTF8.self)
            text.removeLast()
            return Data((text + #","merchantId":"m-2"}"#).utf8)
        case "oversized metadata":
            var text = String(decoding: request(id: id, payer: key.isEmpty ? "user-1" : key, amount: "100"), as: UTF8.self)
            text.removeLast()
            return Data((text + #","metadata":{"blob":"\#(String(repeating: "m", count: 5000))"}}"#).utf8)
        default:  // unicode fields
            return request(id: "\(id)-支付-🙂", payer: key.isEmpty ? "用户" : key, amount: "100", merchant: "商户-\u{0}")
        }
    }

    /// Test card numbers that pass the Luhn check (Visa, Mastercard, Amex).
    public static let cardNumbers = ["4111111111111111", "5555555555554444", "378282246310005"]

    private func request(id: String, payer: String, amount: String, merchant: String = "m-1", order: String? = nil) -> Data {
        func quoted(_ text: String) -> String {
            String(decoding: try! JSONSerialization.data(withJSONObject: [text], options: [.fragmentsAllowed]), as: UTF8.self)
                .dropFirst().dropLast().description
        }
        return Data("""
            {"schema":"payment-request/v1","type":"payment","request_id":\(quoted(id)),"payer_id":\(quoted(payer)),\
            "merchant_id":\(quoted(merchant)),"amount":\(amount),"currency":"CNY","method":"card","channel":"bank_card"\
            \(order.map { ",\"order_id\":\(quoted($0))" } ?? "")}
            """.utf8)
    }

    private func schemaName(of topic: String, topics: TopicNames) -> String {
        switch topic {
        case topics.paymentRequests: "payment-request/v1"
        case topics.channelRequests: "channel-request/v1"
        case topics.channelConfirmations: "channel-confirmation/v1"
        case topics.paymentEvents: "payment-event/v1"
        case topics.settlementRequests: "settlement-request/v1"
        case topics.settlementEvents: "settlement-event/v1"
        default: "payout-confirmation/v1"
        }
    }
}
