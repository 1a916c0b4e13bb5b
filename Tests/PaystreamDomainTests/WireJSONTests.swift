import Foundation
@testable import PaystreamDomain
@testable import PaystreamWire
import Testing

/// `Wire` codes with its own JSON coders; these hold them to Foundation's, byte for byte and
/// value for value, on random JSON, on every message type and on broken input.
@Suite("Wire JSON coders agree with Foundation's")
struct WireJSONTests {
    static let foundationKeyed: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static let foundationSnake: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return encoder
    }()

    static let foundationSnakeDecoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }()

    // MARK: random JSON

    static let pieces = ["a", "Z", "_", "0", "9", "é", "ü", "中", "😀", "𝄞", "\"", "\\", "/", "\n", "\t", "\r", "\u{8}",
                         "\u{c}", "\u{1}", "\u{1f}", "\u{7f}", "\u{2028}", "\u{feff}", "ａ", " ", "Id", "URL", "x_y", "aB", "-"]

    static func randomString(_ random: inout SeededRandom) -> String {
        (0..<Int.random(in: 0...8, using: &random)).map { _ in pieces.randomElement(using: &random)! }.joined()
    }

    static func randomNumber(_ random: inout SeededRandom) -> JSONValue {
        switch Int.random(in: 0..<6, using: &random) {
        case 0: return .integer(Int64.random(in: -1000...1000, using: &random))
        case 1: return .integer([Int64.max, Int64.min, 0, 1 << 53, -(1 << 53) - 1].randomElement(using: &random)!)
        case 2: return .number(Double.random(in: -1e6...1e6, using: &random).rounded() + 0.5)
        case 3: return .number(Double(sign: .plus, exponent: Int.random(in: -1070...1020, using: &random),
                                      significand: Double.random(in: 1..<2, using: &random)))
        case 4: return .number([0.1, 1e15 + 0.5, 1e16, 1e20, 1e-7, 123456789.125, 5e-324, 1.7976931348623157e308]
            .randomElement(using: &random)!)
        default: return .number(-Double.random(in: 0..<1, using: &random))
        }
    }

    static func randomJSON(_ random: inout SeededRandom, depth: Int = 0) -> JSONValue {
        switch Int.random(in: 0..<(depth > 3 ? 4 : 7), using: &random) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &random))
        case 2: return randomNumber(&random)
        case 3: return .string(randomString(&random))
        case 4, 5:
            var members: [String: JSONValue] = [:]
            for _ in 0..<Int.random(in: 0...5, using: &random) { members[randomString(&random)] = randomJSON(&random, depth: depth + 1) }
            return .object(members)
        default:
            return .array((0..<Int.random(in: 0...4, using: &random)).map { _ in randomJSON(&random, depth: depth + 1) })
        }
    }

    /// A type coded with key conversion, around any JSON.
    struct Envelope: Codable, Equatable {
        var someValue: JSONValue
        var listOfThings: [JSONValue]?
        var aURLField: String?
        var x_y: Int?
        var mapOfValues: [String: Int]?
    }

    @Test("random JSON: the same bytes as JSONEncoder, read back as JSONDecoder reads them")
    func randomJSON() throws {
        let failures = try forAllCases("random JSON", cases: 2_000) { random, _ in
            let value = Self.randomJSON(&random)
            let ours = try Wire.encode(value)
            let theirs = try Self.foundationKeyed.encode(value)
            guard ours == theirs else {
                return "encode: \(String(decoding: ours, as: UTF8.self)) vs \(String(decoding: theirs, as: UTF8.self))"
            }
            let decoded = try Wire.decodePlain(JSONValue.self, from: theirs)
            guard decoded == (try JSONDecoder().decode(JSONValue.self, from: theirs)) else { return "decode: \(decoded)" }
            let envelope = Envelope(someValue: value, listOfThings: Bool.random(using: &random) ? [value, .null] : nil,
                                    aURLField: Self.randomString(&random), x_y: Int.random(in: -5...5, using: &random),
                                    mapOfValues: ["someKey": 1, "other_key": 2])
            let snake = try Self.foundationSnake.encode(envelope)
            guard try Wire.encode(envelope) == snake else {
                return "snake encode: \(String(decoding: try Wire.encode(envelope), as: UTF8.self)) vs \(String(decoding: snake, as: UTF8.self))"
            }
            guard try Wire.decode(Envelope.self, from: snake) == (try Self.foundationSnakeDecoder.decode(Envelope.self, from: snake)) else {
                return "snake decode of \(String(decoding: snake, as: UTF8.self))"
            }
            return nil
        }
        #expect(failures.isEmpty, "\(failures)")
    }

    // MARK: broken and unusual input

    /// Both decoders succeed with the same value, or both fail, on `text`.
    static func agree<T: Decodable & Equatable>(_ type: T.Type, _ text: String, snake: Bool = false) -> String? {
        let data = Data(text.utf8)
        let theirs = Result { try (snake ? foundationSnakeDecoder : JSONDecoder()).decode(T.self, from: data) }
        let ours = Result { try snake ? Wire.decode(T.self, from: data) : Wire.decodePlain(T.self, from: data) }
        switch (ours, theirs) {
        case (.success(let a), .success(let b)): return a == b ? nil : "\(text): \(a) vs \(b)"
        case (.failure, .failure): return nil
        case (.success(let a), .failure(let error)): return "\(text): we read \(a), Foundation refused: \(error)"
        case (.failure(let error), .success(let b)): return "\(text): we refused (\(error)), Foundation read \(b)"
        }
    }

    @Test("unusual and broken JSON: accepted and refused as JSONDecoder accepts and refuses it")
    func brokenInput() {
        let texts = [
            "", " ", "{", "}", "[", "[1,]", "[,1]", "{\"a\":}", "{\"a\" 1}", "{\"a\":1,}", "{a:1}", "{'a':1}", "[1 2]",
            "01", "-", "-0", "1.", ".5", "1e", "1e+", "+1", "1.0", "1e3", "1E-2", "-0.0", "1e400", "-1e400", "123456789012345678901234",
            "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
            "tru", "true", "nul", "null", "nullx", "\"a", "\"\\x\"", "\"\\u12\"", "\"\\u00e9\"", "\"\\/\"",
            "\"\\ud83d\\ude00\"", "\"\\ud83d\"", "\"\\ude00\"", "\"\\ud83dx\"", "\"tab\there\"", "\"\u{1}\"",
            " {\"a\" : [ 1 , 2 ] } ", "{\"a\":1}{", "[1]]", "\"\\u0000\"", "[[[[[[[[[[]]]]]]]]]]",
            "{\"a\":1,\"a\":2}", "{\"\":0}", "{\"a\\u0062\":1}",
        ]
        var failures: [String] = []
        for text in texts {
            if let failure = Self.agree(JSONValue.self, text) { failures.append(failure) }
            if let failure = Self.agree([Int64].self, "[\(text)]") { failures.append(failure) }
            if let failure = Self.agree([Double].self, "[\(text)]") { failures.append(failure) }
            if let failure = Self.agree([String].self, "[\(text)]") { failures.append(failure) }
            if let failure = Self.agree([Int8].self, "[\(text)]") { failures.append(failure) }
        }
        // Invalid UTF-8 inside a string, and random bytes.
        for bytes in [[0x22, 0xFF, 0x22], [0x22, 0xC3, 0x22], [0x22, 0xE2, 0x82, 0x22]] as [[UInt8]] {
            let ours = try? Wire.decodePlain(String.self, from: Data(bytes))
            let theirs = try? JSONDecoder().decode(String.self, from: Data(bytes))
            if ours != theirs { failures.append("bytes \(bytes): \(String(describing: ours)) vs \(String(describing: theirs))") }
        }
        var random = SeededRandom(seed: 7)
        for _ in 0..<500 {
            let value = try! Wire.encode(Self.randomJSON(&random))
            var bytes = Array(value)
            let cut = Int.random(in: 0...bytes.count, using: &random)
            bytes = Array(bytes.prefix(cut))
            if !bytes.isEmpty && Bool.random(using: &random) {
                bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
            }
            let ours = try? Wire.decodePlain(JSONValue.self, from: Data(bytes))
            let theirs = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes))
            if ours != theirs { failures.append("mutated \(bytes): \(String(describing: ours)) vs \(String(describing: theirs))") }
        }
        #expect(failures.isEmpty, "\(failures.prefix(10))")
    }

    @Test("decoding errors name the same field as Foundation's")
    func errorPaths() {
        struct Inner: Codable, Equatable { var partyId: String; var amount: Int64 }
        struct Outer: Codable, Equatable { var payerId: String; var splits: [Inner]; var count: Int8? }
        let texts = [
            #"{"splits":[]}"#, #"{"payer_id":5,"splits":[]}"#, #"{"payer_id":null,"splits":[]}"#,
            #"{"payer_id":"u","splits":[{"party_id":"p","amount":"x"}]}"#, #"{"payer_id":"u","splits":[{"amount":1}]}"#,
            #"{"payer_id":"u","splits":{}}"#, #"{"payer_id":"u","splits":[{"party_id":"p","amount":1}],"count":"x"}"#,
        ]
        for text in texts {
            let data = Data(text.utf8)
            let ours = Result { try Wire.decode(Outer.self, from: data) }
            let theirs = Result { try Self.foundationSnakeDecoder.decode(Outer.self, from: data) }
            guard case .failure(let a) = ours, case .failure(let b) = theirs else {
                Issue.record("\(text): both should fail: \(ours) / \(theirs)")
                continue
            }
            let path = { (error: any Error) -> String in
                guard let error = error as? DecodingError else { return "\(error)" }
                switch error {
                case .typeMismatch(_, let c), .valueNotFound(_, let c), .keyNotFound(_, let c), .dataCorrupted(let c):
                    return c.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
                @unknown default: return "?"
                }
            }
            #expect(path(a) == path(b), "\(text): \(Wire.describe(a)) vs \(Wire.describe(b))")
        }
    }

    // MARK: messages

    static func maybe<T>(_ value: T, _ random: inout SeededRandom) -> T? { Bool.random(using: &random) ? value : nil }

    @Test("every message type: the same bytes as JSONEncoder and the same value back as JSONDecoder")
    func messages() throws {
        func same<T: Codable & Equatable>(_ value: T, snake: Bool) throws -> String? {
            let theirs = try (snake ? Self.foundationSnake : Self.foundationKeyed).encode(value)
            let ours = try Wire.encode(value)
            guard ours == theirs else { return "\(T.self): \(String(decoding: ours, as: UTF8.self)) vs \(String(decoding: theirs, as: UTF8.self))" }
            let foundation = try (snake ? Self.foundationSnakeDecoder : JSONDecoder()).decode(T.self, from: theirs)
            guard try Wire.decode(T.self, from: theirs) == foundation else { return "\(T.self) read back differs" }
            return nil
        }
        let failures = try forAllCases("messages", cases: 300) { random, _ in
            let s = { (r: inout SeededRandom) in Self.randomString(&r) }
            let amount = Int64.random(in: -1_000_000...1_000_000, using: &random)
            let metadata = Self.maybe(Self.randomJSON(&random), &random)
            let checks: [String?] = [
                try same(PaymentEvent(eventId: s(&random), sequence: Int.random(in: 0...99, using: &random), occurredAt: s(&random),
                                      type: s(&random), paymentId: s(&random), requestId: Self.maybe(s(&random), &random),
                                      orderId: Self.maybe(s(&random), &random), payerId: s(&random), merchantId: nil,
                                      amount: Self.maybe(amount, &random), currency: "CNY", method: nil, channel: s(&random),
                                      status: s(&random), reason: Self.maybe(s(&random), &random), message: s(&random),
                                      channelReference: nil, refundAmount: Self.maybe(amount, &random), refundedTotal: nil,
                                      metadata: metadata), snake: false),
                try same(PaymentRequestMessage(schema: Self.maybe("payment-request/v1", &random), type: Self.maybe(s(&random), &random),
                                               requestId: s(&random), paymentId: Self.maybe(s(&random), &random), orderId: nil,
                                               payerId: s(&random), merchantId: s(&random), amount: Self.maybe(amount, &random),
                                               currency: Self.maybe("JPY", &random), method: "card", channel: nil,
                                               settlement: Self.maybe(SettlementTerms(.installments, installments: 3), &random),
                                               splits: Self.maybe([Split(partyId: s(&random), amount: amount)], &random),
                                               settlementCurrency: nil, createdAt: s(&random), metadata: metadata), snake: false),
                try same(ChannelRequest(requestType: s(&random), channelRequestId: s(&random), paymentId: s(&random), payerId: s(&random),
                                        merchantId: s(&random), amount: amount, currency: "USD", method: s(&random),
                                        channel: s(&random), requestedAt: s(&random), targetRequestId: Self.maybe(s(&random), &random),
                                        reason: Self.maybe(s(&random), &random)), snake: false),
                try same(ChannelConfirmation(confirmationId: s(&random), channelRequestId: s(&random), paymentId: s(&random),
                                             status: s(&random), amount: amount, currency: "EUR",
                                             channelReference: Self.maybe(s(&random), &random), reason: nil, message: s(&random),
                                             confirmedAt: s(&random), requestType: Self.maybe(s(&random), &random)), snake: false),
                try same(NotificationMessage(eventId: s(&random), sourceEventId: s(&random), occurredAt: s(&random), recipientId: s(&random),
                                             recipientType: "payer", type: s(&random), paymentId: s(&random),
                                             orderId: Self.maybe(s(&random), &random), amount: amount,
                                             currency: "CNY", locale: "zh-CN", title: s(&random), body: s(&random)), snake: false),
                try same(SettlementEvent(eventId: s(&random), sequence: 1, occurredAt: s(&random), type: s(&random), paymentId: s(&random),
                                         orderId: nil, payerId: s(&random), merchantId: s(&random), amount: amount, currency: "CNY",
                                         fee: 1, commission: 0, net: amount - 1, splits: [Split(partyId: s(&random), amount: 2)],
                                         settlementMode: "prepaid", sourceEventId: s(&random)), snake: false),
            ]
            return checks.compactMap { $0 }.first
        }
        #expect(failures.isEmpty, "\(failures)")
    }

    @Test("a payment request reads its keys only as the wire spells them; a strict decode refuses another spelling and a key twice")
    func requestSpellings() throws {
        let snake = try Wire.decode(PaymentRequestMessage.self, from: Data(#"{"request_id":"r","payer_id":"u","amount":5}"#.utf8))
        #expect(snake.requestId == "r" && snake.payerId == "u" && snake.amount == 5)
        // No key conversion: a camelCase key is not a field (a lenient decode leaves the field out).
        let camel = try Wire.decode(PaymentRequestMessage.self, from: Data(#"{"requestId":"r","payerId":"u","amount":5}"#.utf8))
        #expect(camel.requestId == nil && camel.payerId == nil && camel.amount == 5)
        #expect(Self.agree(PaymentRequestMessage.self, #"{"request_id":"a","requestId":"b"}"#) == nil)
        #expect(Self.agree(PaymentRequestMessage.self, #"{"REQUEST_ID":"a","_request_id_":"b","request__id":"c"}"#) == nil)
        func strict(_ text: String) throws -> PaymentRequestMessage {
            try Wire.decode(PaymentRequestMessage.self, from: Data(text.utf8), strict: true)
        }
        for text in [#"{"requestId":"r"}"#, #"{"RequestId":"r"}"#, #"{"request_id":"a","request_id":"b"}"#,
                     #"{"splits":[{"partyId":"p","amount":1}]}"#, #"{"settlement":{"mode":"prepaid","Installments":3}}"#] {
            #expect(throws: DecodingError.self, "\(text)") { try strict(text) }
        }
        // What a strict decode takes: unknown fields spelled canonically (ignored), and metadata
        // whose keys are the sender's own.
        let accepted = try strict(#"{"request_id":"r","some_future_field":1,"metadata":{"orderRef":"x","a":{"B_c":1}}}"#)
        #expect(accepted.requestId == "r")
        #expect(accepted.metadata == .object(["orderRef": .string("x"), "a": .object(["B_c": .integer(1)])]))
    }

    @Test("canonical snake_case: the quick test never calls a key canonical that the round trip through Foundation would not")
    func plainSnakeCase() {
        var random = SystemRandomNumberGenerator()
        let alphabet = Array("abz09__")
        let made = (0..<5000).map { _ in String((0..<Int.random(in: 1...7, using: &random)).map { _ in alphabet.randomElement(using: &random)! }) }
        for key in ["request_id", "a", "sha256", "a1b", "request_id_2", "line_2", "_x", "x_", "a__b", "Request_id", "requestId", "", "é",
                    "a_b_c", "a_b", "x_ab_c", "ab_c_de", "a-b", "a b"] + made where WireKeyConversion.isPlainSnakeCase(key) {
            #expect(WireKeyConversion.toSnakeCase(WireKeyConversion.fromSnakeCase(key)) == key, "\(key)")
        }
        #expect(WireKeyConversion.isPlainSnakeCase("request_id") && WireKeyConversion.isPlainSnakeCase("x_ab"))
        #expect(!WireKeyConversion.isPlainSnakeCase("requestId") && !WireKeyConversion.isPlainSnakeCase("line_2"))
    }

    @Test("keys are ordered byte by byte, equal keys in the order they came: the quick order is the full sort's on random keys")
    func keyOrder() {
        var random = SystemRandomNumberGenerator()
        let pieces = ["a", "b", "_", "é", "\u{0}", "aaaaaaa", "aaaaaaaa", "aaaaaaaab", "z", "Z", "0", "request_id", "😀"]
        for _ in 0..<2_000 {
            let keys = (0..<Int.random(in: 0...12, using: &random)).map { _ in
                (0..<Int.random(in: 0...3, using: &random)).map { _ in pieces.randomElement(using: &random)! }.joined()
            }
            let full = keys.indices.sorted { a, b in keys[a] == keys[b] ? a < b : WireEncodingState.keyPrecedes(keys[a], keys[b]) }
            #expect(WireEncodingState.keyOrder(keys) == full, "\(keys)")
        }
    }

    @Test("a string map written directly is the bytes Wire.encode and Foundation's sorted-keys encoder write")
    func stringMaps() throws {
        var random = SystemRandomNumberGenerator()
        let pieces = ["a", "paystream-answer-seal", "\"", "\\", "\n", "\u{1}", "é", "/", "😀", "0", "Z"]
        let foundation = JSONEncoder()
        foundation.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        for _ in 0..<500 {
            var map: [String: String] = [:]
            for _ in 0..<Int.random(in: 0...6, using: &random) {
                let key = (0..<Int.random(in: 0...3, using: &random)).map { _ in pieces.randomElement(using: &random)! }.joined()
                map[key] = (0..<Int.random(in: 0...3, using: &random)).map { _ in pieces.randomElement(using: &random)! }.joined()
            }
            let direct = Wire.encodeStringMap(map)
            #expect(direct == String(decoding: try Wire.encode(map), as: UTF8.self), "\(map)")
            #expect(direct == String(decoding: try foundation.encode(map), as: UTF8.self), "\(map)")
        }
    }
}
