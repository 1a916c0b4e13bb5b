/// One supplier's term in a `SplitPlan`: a fixed amount, or basis points of what the fee and the
/// commission leave (the distributable amount).
///
/// JSON: `{"party_id": "supplier-3", "amount": 5000}` or `{"party_id": "supplier-3", "basis_points": 1500}`.
public struct SupplierShare: Sendable, Hashable, Codable {
    public enum Rule: Sendable, Hashable {
        /// Minor units of the payment's currency, > 0.
        case fixed(Int64)
        /// Basis points of the distributable amount, 1…10 000.
        case basisPoints(Int64)
    }

    public let partyId: String
    public let rule: Rule

    public init(partyId: String, rule: Rule) throws(SettlementError) {
        guard !partyId.isEmpty else { throw .invalidPlan("a split needs a party_id") }
        switch rule {
        case .fixed(let amount):
            guard amount > 0 else { throw .invalidPlan("split amount for '\(partyId)' must be greater than zero, not \(amount)") }
        case .basisPoints(let points):
            guard (1...10_000).contains(points) else {
                throw .invalidPlan("split basis_points for '\(partyId)' must be within 1…10000, not \(points)")
            }
        }
        self.partyId = partyId
        self.rule = rule
    }

    enum CodingKeys: String, CodingKey {
        case partyId = "party_id", amount, basisPoints = "basis_points"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let partyId = try c.decode(String.self, forKey: .partyId)
        let rule: Rule
        switch (try c.decodeIfPresent(Int64.self, forKey: .amount), try c.decodeIfPresent(Int64.self, forKey: .basisPoints)) {
        case (let amount?, nil): rule = .fixed(amount)
        case (nil, let points?): rule = .basisPoints(points)
        default:
            throw DecodingError.dataCorruptedError(forKey: .amount, in: c,
                                                   debugDescription: "a split has exactly one of amount and basis_points")
        }
        do { try self.init(partyId: partyId, rule: rule) } catch {
            throw DecodingError.dataCorruptedError(forKey: .partyId, in: c, debugDescription: error.description)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(partyId, forKey: .partyId)
        switch rule {
        case .fixed(let amount): try c.encode(amount, forKey: .amount)
        case .basisPoints(let points): try c.encode(points, forKey: .basisPoints)
        }
    }
}
