/// A merchant's status in `reference.merchants`. Only active merchants take payments.
public enum MerchantStatus: String, Sendable, Codable, CaseIterable {
    case active, suspended
}
