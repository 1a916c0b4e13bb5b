import PaystreamDomain

/// The reference data a stage decides with: the current value of each key of the compacted
/// reference topics (PRODUCT.md §3). Implementations must be safe to read from the worker's
/// task while an updater replaces values.
public protocol ReferenceLookup: Sendable {
    func merchant(_ merchantID: String) -> MerchantReference?
    func creditLine(payerID: String) -> CreditLineReference?
    func fxRate(base: String, quote: String) -> FXRateReference?
}

/// Fixed reference data, for unit tests and tools.
public struct StaticReferenceData: ReferenceLookup {
    public var merchants: [String: MerchantReference]
    public var creditLines: [String: CreditLineReference]
    public var fxRates: [String: FXRateReference]

    public init(merchants: [MerchantReference] = [], creditLines: [CreditLineReference] = [], fxRates: [FXRateReference] = []) {
        self.merchants = Dictionary(merchants.map { ($0.merchantId, $0) }, uniquingKeysWith: { _, last in last })
        self.creditLines = Dictionary(creditLines.map { ($0.payerId, $0) }, uniquingKeysWith: { _, last in last })
        self.fxRates = Dictionary(fxRates.map { ($0.pair, $0) }, uniquingKeysWith: { _, last in last })
    }

    public func merchant(_ merchantID: String) -> MerchantReference? { merchants[merchantID] }
    public func creditLine(payerID: String) -> CreditLineReference? { creditLines[payerID] }
    public func fxRate(base: String, quote: String) -> FXRateReference? { fxRates["\(base)/\(quote)"] }
}
