import PaystreamDomain

/// The reference data a stage decides with: the current value of each key of the compacted
/// reference topics (PRODUCT.md §3). Implementations must be safe to read from the worker's
/// task while an updater replaces values.
public protocol ReferenceLookup: Sendable {
    func merchant(_ merchantID: String) -> MerchantReference?
    func creditLine(payerID: String) -> CreditLineReference?
    func fxRate(base: String, quote: String) -> FXRateReference?
    func webhookEndpoint(_ endpointID: String) -> WebhookEndpointReference?
    /// The endpoints of one merchant or supplier, by endpoint id, enabled or not.
    func webhookEndpoints(ownerType: String, ownerID: String) -> [WebhookEndpointReference]
}

extension ReferenceLookup {
    public func webhookEndpoint(_ endpointID: String) -> WebhookEndpointReference? { nil }
    public func webhookEndpoints(ownerType: String, ownerID: String) -> [WebhookEndpointReference] { [] }
}

/// Fixed reference data, for unit tests and tools.
public struct StaticReferenceData: ReferenceLookup {
    public var merchants: [String: MerchantReference]
    public var creditLines: [String: CreditLineReference]
    public var fxRates: [String: FXRateReference]
    public var webhookEndpoints: [String: WebhookEndpointReference]

    public init(merchants: [MerchantReference] = [], creditLines: [CreditLineReference] = [], fxRates: [FXRateReference] = [],
                webhookEndpoints: [WebhookEndpointReference] = []) {
        self.merchants = Dictionary(merchants.map { ($0.merchantId, $0) }, uniquingKeysWith: { _, last in last })
        self.creditLines = Dictionary(creditLines.map { ($0.payerId, $0) }, uniquingKeysWith: { _, last in last })
        self.fxRates = Dictionary(fxRates.map { ($0.pair, $0) }, uniquingKeysWith: { _, last in last })
        self.webhookEndpoints = Dictionary(webhookEndpoints.map { ($0.endpointId, $0) }, uniquingKeysWith: { _, last in last })
    }

    public func merchant(_ merchantID: String) -> MerchantReference? { merchants[merchantID] }
    public func creditLine(payerID: String) -> CreditLineReference? { creditLines[payerID] }
    public func fxRate(base: String, quote: String) -> FXRateReference? { fxRates["\(base)/\(quote)"] }
    public func webhookEndpoint(_ endpointID: String) -> WebhookEndpointReference? { webhookEndpoints[endpointID] }
    public func webhookEndpoints(ownerType: String, ownerID: String) -> [WebhookEndpointReference] {
        webhookEndpoints.values.filter { $0.ownerType == ownerType && $0.ownerId == ownerID }.sorted { $0.endpointId < $1.endpointId }
    }
}
