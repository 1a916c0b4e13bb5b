/// Identifies a hold, typically after the authorization it reserves funds for (`auth:pay-1001`).
public struct HoldID: Sendable, Hashable, Comparable, ExpressibleByStringLiteral, CustomStringConvertible {
    public let rawValue: String

    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { rawValue = value }

    public var description: String { rawValue }

    public static func < (lhs: HoldID, rhs: HoldID) -> Bool { lhs.rawValue < rhs.rawValue }
}
