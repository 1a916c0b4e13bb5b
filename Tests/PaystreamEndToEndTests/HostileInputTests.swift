import Foundation
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaystreamRuntime
import PaystreamTesting
import Testing

/// Input from outside, bounded and read one way only (issue 26, point 5): duplicate keys and
/// non-canonical spellings refused on payments.requests, metadata over 4 KiB and ids over 255
/// characters rejected with their reasons, records over `input.max_record_bytes` dead-lettered
/// before any decision.
@Suite("hostile input on payments.requests")
struct HostileInputTests {
    static func body(_ id: String, _ fields: String) -> Data {
        Data(#"{"schema":"payment-request/v1","type":"payment","request_id":"\#(id)","payer_id":"user-1",\#(fields)}"#.utf8)
    }
    static let rest = #""merchant_id":"m-1","amount":1000,"currency":"CNY","method":"card","channel":"bank_card""#

    @Test("a key twice, a non-canonical spelling, metadata over 4 KiB and an id over 255 characters are each rejected with their reason; nothing reaches the channel")
    func rejected() async throws {
        let h = try await PaymentHarness()
        let topics = h.topics
        let bigMetadata = #""metadata":{"note":"\#(String(repeating: "x", count: 4100))"}"#
        let exactMetadata = #""metadata":{"note":"\#(String(repeating: "y", count: 4096 - 11))"}"#  // {"note":"…"} = 4096 bytes
        try h.send(topic: topics.paymentRequests, [
            ("user-1", Self.body("r-dup", #""amount":1,\#(Self.rest)"#)),                       // amount twice: 1, then 1000
            ("user-1", Self.body("r-camel", #""merchantId":"m-2",\#(Self.rest)"#)),             // merchantId beside merchant_id
            ("user-1", Self.body("r-under", #""merchant__id":"m-2",\#(Self.rest)"#)),
            ("user-1", Self.body("r-meta-dup", #""metadata":{"a":1,"a":2},\#(Self.rest)"#)),
            ("user-1", Self.body("r-split-dup", #""splits":[{"party_id":"s-1","party_id":"s-2","amount":10}],\#(Self.rest)"#)),
            ("user-1", Self.body("r-big", "\(bigMetadata),\(Self.rest)")),
            ("user-1", Self.body("r-exact", "\(exactMetadata),\(Self.rest)")),
            ("user-1", Self.body("r-long", #""order_id":"\#(String(repeating: "o", count: 256))",\#(Self.rest)"#)),
        ])
        let records = h.records
        try await h.finish()
        let events = try PaymentScenarioTests.events(records, topics).map(\.0)
        func rejection(_ request: String) -> PaymentEvent? { events.first { $0.requestId == request && $0.type == "payment.rejected" } }
        for (request, words) in [("r-dup", "'amount' appears twice"), ("r-camel", "'merchantId' is not spelled canonically"),
                                 ("r-under", "'merchant__id' is not spelled canonically"), ("r-meta-dup", "'a' appears twice"),
                                 ("r-split-dup", "'party_id' appears twice"), ("r-long", "order_id is 256 characters")] {
            let event = try #require(rejection(request), "\(request) was not rejected")
            #expect(event.reason == "invalid_request", "\(request)")
            #expect(event.message?.contains(words) == true, "\(request): \(event.message ?? "")")
        }
        let big = try #require(rejection("r-big"))
        #expect(big.reason == "metadata_too_large" && big.message?.contains("at most 4096") == true, "\(big)")
        #expect(rejection("r-exact") == nil, "metadata of exactly 4096 bytes passes")
        let authorized = records.filter { $0.topic == topics.channelRequests }.compactMap { try? Wire.decode(ChannelRequest.self, from: Data($0.value)) }
        #expect(authorized.map(\.paymentId) == ["pay-r-exact"])
    }

    @Test("a request_id holding a NUL is parked as invalid_request_id before any look-up, and cannot take the id it would be cut to from the request that has it")
    func nulRequestID() async throws {
        let h = try await PaymentHarness()
        let topics = h.topics
        let sent = try h.send(topic: topics.paymentRequests, [
            ("user-1", Data(#"{"schema":"payment-request/v1","type":"payment","request_id":"r-squat\u0000x","payer_id":"user-1",\#(Self.rest)}"#.utf8)),
            // Not decodable as a request (amount is text): the fallback path checks the id too.
            ("user-1", Data(#"{"schema":"payment-request/v1","type":"payment","request_id":"r-squat\u0000y","payer_id":"user-1","amount":"x"}"#.utf8)),
            ("user-1", Self.body("r-squat", Self.rest)),
        ])
        let records = h.records
        try await h.finish()
        let letters = try records.filter { $0.topic == topics.deadLetter(of: topics.paymentRequests) }
            .map { try Wire.decode(DeadLetterMessage.self, from: Data($0.value)) }
        #expect(letters.map(\.errorCode) == ["invalid_request_id", "invalid_request_id"])
        #expect(letters.map(\.sourceOffset) == [sent[0].offset, sent[1].offset])
        let events = try PaymentScenarioTests.events(records, topics).map(\.0)
        #expect(!events.contains { $0.type == "payment.rejected" }, "\(events.map { ($0.requestId, $0.type, $0.reason) })")
        let authorized = records.filter { $0.topic == topics.channelRequests }.compactMap { try? Wire.decode(ChannelRequest.self, from: Data($0.value)) }
        #expect(authorized.map(\.paymentId) == ["pay-r-squat"], "the real r-squat is decided as new")
    }

    @Test("a record over input.max_record_bytes is dead-lettered as record_too_large before any decision; its letter keeps 64 KiB and cannot be replayed")
    func tooLarge() async throws {
        let h = try await PaymentHarness()
        let topics = h.topics
        let padding = String(repeating: "z", count: 300 * 1024)
        let sent = try h.send(topic: topics.paymentRequests, [("user-1", Self.body("r-huge", #""metadata":{"p":"\#(padding)"},\#(Self.rest)"#)),
                                                              ("user-1", Self.body("r-fine", Self.rest))])
        let records = h.records
        try await h.finish()
        let letters = records.filter { $0.topic == topics.deadLetter(of: topics.paymentRequests) }
        let letter = try Wire.decode(DeadLetterMessage.self, from: Data(try #require(letters.first).value))
        #expect(letters.count == 1)
        #expect(letter.errorCode == "record_too_large" && letter.sourceOffset == sent[0].offset, "\(letter.errorCode)")
        #expect(letter.originalValueBytes == sent[0].value.count)
        #expect(Data(base64Encoded: letter.originalValueBase64)?.count == DeadLetterMessage.cutValueBytes)
        #expect(letters[0].value.count < 100 * 1024, "the letter must get through the broker")
        let events = try PaymentScenarioTests.events(records, topics).map(\.0)
        #expect(!events.contains { $0.requestId == "r-huge" }, "no decision for the refused record")
        #expect(events.contains { $0.requestId == "r-fine" })
    }

    @Test("strict decoding: canonical spellings pass, every other spelling of a field is refused; lenient decoding is unchanged")
    func strictDecoding() throws {
        let good = Self.body("r-1", Self.rest)
        #expect(try Wire.decode(PaymentRequestMessage.self, from: good, strict: true).merchantId == "m-1")
        for spelling in ["merchantId", "MerchantId", "merchant__id", "Merchant_Id", "_merchant_id"] {
            let data = Self.body("r-1", #""\#(spelling)":"m-2",\#(Self.rest)"#)
            if spelling == "_merchant_id" {
                // A leading underscore survives both conversions: a different (unknown) field, ignored.
                #expect(try Wire.decode(PaymentRequestMessage.self, from: data, strict: true).merchantId == "m-1")
                continue
            }
            #expect(throws: DecodingError.self, "\(spelling)") { try Wire.decode(PaymentRequestMessage.self, from: data, strict: true) }
        }
        let duplicate = Self.body("r-1", #""amount":5,\#(Self.rest)"#)
        #expect(throws: DecodingError.self) { try Wire.decode(PaymentRequestMessage.self, from: duplicate, strict: true) }
        // Lenient (the other topics, our own messages): the first of two keys counts, as Foundation's.
        #expect(try Wire.decode(PaymentRequestMessage.self, from: duplicate).amount == 5)
        // Metadata keys are data, not fields: any spelling passes.
        let metadata = Self.body("r-1", #""metadata":{"orderRef":"A-1","Ship__To":"x"},\#(Self.rest)"#)
        #expect(try Wire.decode(PaymentRequestMessage.self, from: metadata, strict: true).metadata?.objectValue?["orderRef"] == .string("A-1"))
    }

    @Test("metadata's compact JSON size is what the wire coder writes", arguments: 0..<40)
    func metadataSize(seed: Int) throws {
        var random = SeededRandom(seed: UInt64(seed) &+ 17)
        func value(_ depth: Int) -> JSONValue {
            switch Int.random(in: 0..<(depth > 2 ? 4 : 6), using: &random) {
            case 0: return .null
            case 1: return .bool(Bool.random(using: &random))
            case 2: return .integer(Int64.random(in: -1_000_000...1_000_000, using: &random))
            case 3:
                let alphabet = Array("ab \"\\/\n\t\r\u{1}é中😀")
                return .string(String((0..<Int.random(in: 0..<12, using: &random)).map { _ in alphabet.randomElement(using: &random)! }))
            case 4: return .array((0..<Int.random(in: 0..<4, using: &random)).map { _ in value(depth + 1) })
            default:
                var members: [String: JSONValue] = [:]
                for i in 0..<Int.random(in: 0..<4, using: &random) { members["k\(i)\u{8}"] = value(depth + 1) }
                return .object(members)
            }
        }
        let sample = value(0)
        #expect(sample.compactJSONSize == (try Wire.encode(sample)).count, "\(sample)")
    }
}
