import Foundation
import PaystreamDomain
import PaystreamKafka
import PaystreamRuntime
import Synchronization

/// The reference data as the compacted reference topics hold it now: a `ReferenceLookup` for the
/// stage, kept current by the worker runtime as the stage's `ReferenceFeed`. Every worker
/// instance has its own and reads every partition, so each holds every key.
///
/// A record is applied only if it is a valid message of its topic's schema whose id is the
/// record key (`ReferenceUpdate.decode`); otherwise the key keeps its previous value. An empty
/// value (a tombstone) deletes the key.
public final class LiveReferenceData: ReferenceLookup, ReferenceFeed {
    public let topics: TopicNames
    /// The kinds read: their topics must exist when the worker starts.
    public let kinds: [ReferenceKind]
    /// What a value may say beyond its shape (fee, commission, credit limit, FX move); a value
    /// outside is refused like an invalid one.
    public let bounds: ReferenceBounds
    private let state = Mutex(State())

    private struct State {
        var merchants: [String: MerchantReference] = [:]
        var creditLines: [String: CreditLineReference] = [:]
        var fxRates: [String: FXRateReference] = [:]
        var webhookEndpoints: [String: WebhookEndpointReference] = [:]
        /// Endpoint ids by owner (`<owner type>:<owner id>`): looked up for every notification.
        var endpointsByOwner: [String: Set<String>] = [:]

        mutating func setEndpoint(_ key: String, _ endpoint: WebhookEndpointReference?) {
            if let old = webhookEndpoints[key] {
                endpointsByOwner["\(old.ownerType):\(old.ownerId)"]?.remove(key)
            }
            webhookEndpoints[key] = endpoint
            if let endpoint { endpointsByOwner["\(endpoint.ownerType):\(endpoint.ownerId)", default: []].insert(key) }
        }
        /// The offset after the last record handed over (applied or refused), per partition.
        var positions: [TopicPartition: Int64] = [:]
    }

    /// - Parameter kinds: the reference data the stage uses (the money stages': merchants,
    ///   credit lines and FX rates).
    /// - Parameter bounds: the operator's bounds (`stage.reference_bounds`); `.none` checks shape only.
    public init(topics: TopicNames, kinds: [ReferenceKind] = ReferenceKind.decisionKinds, bounds: ReferenceBounds = .none) {
        self.topics = topics
        self.kinds = kinds
        self.bounds = bounds
    }

    // MARK: ReferenceFeed

    public var referenceTopics: [String] { kinds.map { $0.topic(in: topics) } }

    public func apply(_ entry: ReferenceEntry) throws(ReferenceRejection) {
        defer {
            state.withLock { state in
                let tp = TopicPartition(entry.topic, entry.partition)
                state.positions[tp] = max(state.positions[tp] ?? 0, entry.offset + 1)
            }
        }
        guard let kind = ReferenceKind(topic: entry.topic, in: topics) else {
            throw ReferenceRejection("topic \(entry.topic) is not a reference topic")
        }
        guard let value = entry.value else {
            state.withLock { state in
                switch kind {
                case .merchant: state.merchants[entry.key] = nil
                case .creditLine: state.creditLines[entry.key] = nil
                case .fxRate: state.fxRates[entry.key] = nil
                case .webhookEndpoint: state.setEndpoint(entry.key, nil)
                }
            }
            return
        }
        let update = try ReferenceUpdate.decode(value, kind: kind, key: entry.key)
        let outside: [String] = switch update {
        case .merchant(let merchant): bounds.problems(merchant)
        case .creditLine(let line): bounds.problems(line)
        case .fxRate(let rate): bounds.problems(rate, current: state.withLock { $0.fxRates[entry.key] })
        case .webhookEndpoint, .deletion: []
        }
        guard outside.isEmpty else {
            throw ReferenceRejection("\(kind.schemaName) outside the configured bounds (stage.reference_bounds): " + outside.joined(separator: "; "))
        }
        state.withLock { state in
            switch update {
            case .merchant(let merchant): state.merchants[entry.key] = merchant
            case .creditLine(let line): state.creditLines[entry.key] = line
            case .fxRate(let rate): state.fxRates[entry.key] = rate
            case .webhookEndpoint(let endpoint): state.setEndpoint(entry.key, endpoint)
            case .deletion: break  // decode never returns one
            }
        }
    }

    // MARK: ReferenceLookup

    public func merchant(_ merchantID: String) -> MerchantReference? { state.withLock { $0.merchants[merchantID] } }
    public func creditLine(payerID: String) -> CreditLineReference? { state.withLock { $0.creditLines[payerID] } }
    public func fxRate(base: String, quote: String) -> FXRateReference? { state.withLock { $0.fxRates["\(base)/\(quote)"] } }
    public func webhookEndpoint(_ endpointID: String) -> WebhookEndpointReference? {
        state.withLock { $0.webhookEndpoints[endpointID] }
    }
    public func webhookEndpoints(ownerType: String, ownerID: String) -> [WebhookEndpointReference] {
        state.withLock { state in
            (state.endpointsByOwner["\(ownerType):\(ownerID)"] ?? []).sorted().compactMap { state.webhookEndpoints[$0] }
        }
    }

    // MARK: for tools and tests

    /// Every current value, as fixed data.
    public var snapshot: StaticReferenceData {
        state.withLock { state in
            StaticReferenceData(merchants: Array(state.merchants.values), creditLines: Array(state.creditLines.values),
                                fxRates: Array(state.fxRates.values), webhookEndpoints: Array(state.webhookEndpoints.values))
        }
    }

    /// True once the record at `offset` of the partition has been handed over (applied or refused).
    public func hasRead(topic: String, partition: Int32, offset: Int64) -> Bool {
        state.withLock { ($0.positions[TopicPartition(topic, partition)] ?? 0) > offset }
    }
}
