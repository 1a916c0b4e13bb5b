import Foundation
import PaystreamDomain
import PaystreamKafka
import PaystreamRuntime
import PaystreamStore

/// channel-sandbox: plays the payment channels for development and tests. Answers every
/// `authorize` instruction on `channel.confirmations` with the request's key. Declines a
/// configurable share of requests, chosen deterministically from the payment id and a seed, so
/// a run is reproducible. (Latency, timeouts, duplicates and statements come with the payment issue.)
public struct ChannelSandboxStage: Stage {
    public struct Settings: Decodable, Sendable {
        /// Share of authorizations declined, 0 to 1.
        public var declineRate: Double = 0
        public var seed: UInt64 = 1

        public init(declineRate: Double = 0, seed: UInt64 = 1) {
            self.declineRate = declineRate
            self.seed = seed
        }

        enum CodingKeys: String, CodingKey { case declineRate = "decline_rate", seed }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            declineRate = try c.decodeIfPresent(Double.self, forKey: .declineRate) ?? 0
            seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? 1
            guard (0...1).contains(declineRate) else {
                throw DecodingError.dataCorruptedError(forKey: .declineRate, in: c, debugDescription: "must be between 0 and 1")
            }
        }
    }

    public let name = "channel-sandbox"
    public let topics: TopicNames
    public let settings: Settings

    public init(topics: TopicNames, settings: Settings = Settings()) {
        self.topics = topics
        self.settings = settings
    }

    public var inputTopics: [String] { [topics.channelRequests] }
    public var schema: StageSchema { .empty }

    public func decode(_ record: ConsumedRecord) throws(DeadLetter) -> ChannelRequest {
        try decodeMessage(ChannelRequest.self, schema: ChannelRequest.schemaName, from: record)
    }

    public func messageID(of input: ChannelRequest) -> String? { "channel-request:\(input.channelRequestId)" }

    public func apply(_ request: ChannelRequest, record: ConsumedRecord, in context: StageContext) throws {
        guard request.requestType == "authorize" else {
            throw DeadLetter(code: "unsupported_request", message: "request_type '\(request.requestType)' is not supported by the sandbox")
        }
        let draw = Double(stableHash(request.paymentId, seed: settings.seed) % 1_000_000) / 1_000_000
        let declined = draw < settings.declineRate
        let confirmation = ChannelConfirmation(
            confirmationId: "cc-\(request.channelRequestId)", channelRequestId: request.channelRequestId,
            paymentId: request.paymentId, status: declined ? "declined" : "approved", amount: request.amount,
            currency: request.currency,
            channelReference: "sbx-\(request.method)-\(String(stableHash(request.channelRequestId, seed: settings.seed), radix: 16))",
            reason: declined ? "insufficient_balance" : nil, message: declined ? "declined by the sandbox" : nil,
            confirmedAt: context.timestamp)
        try context.emit(confirmation, topic: topics.channelConfirmations, key: record.keyString ?? request.payerId,
                         eventID: "cc:\(request.channelRequestId)")
    }
}

/// FNV-1a over the UTF-8 bytes, mixed with a seed: stable across runs and platforms.
func stableHash(_ text: String, seed: UInt64) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325 ^ seed
    for byte in text.utf8 {
        hash ^= UInt64(byte)
        hash = hash &* 0x100_0000_01b3
    }
    return hash
}
