/// Identifies a posting. Stages derive it from what caused the posting (`capture:pay-1001`), so a
/// redelivered message finds its posting already booked instead of booking it twice.
public struct PostingID: Sendable, Hashable, Comparable, ExpressibleByStringLiteral, CustomStringConvertible {
    public let rawValue: String

    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { rawValue = value }

    public var description: String { rawValue }

    public static func < (lhs: PostingID, rhs: PostingID) -> Bool { lhs.rawValue < rhs.rawValue }
}
