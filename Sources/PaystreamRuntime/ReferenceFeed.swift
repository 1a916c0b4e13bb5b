import Foundation
import PaystreamStore

/// Reference data a stage reads in full (PRODUCT.md §3): compacted topics with one current value
/// per key, read by every instance without a consumer group. The runtime reads the topics, keeps
/// a copy in `<state_dir>/<stage>/reference.sqlite`, and hands each record to `apply`; the
/// stage's implementation decodes it and makes it visible to its decisions.
///
/// Before a worker consumes its inputs it has applied every reference record up to the end of
/// each partition; while it runs it applies new records before each batch.
public protocol ReferenceFeed: Sendable {
    /// The compacted topics to read (full names, prefix included).
    var referenceTopics: [String] { get }

    /// Makes `entry` the current value of its key, or deletes the key for a tombstone. Throws
    /// for a value the stage cannot use (bad JSON, wrong schema, invalid content): the runtime
    /// logs and skips the record, and the key keeps its previous value. Called from the worker's
    /// task, in offset order per partition; lookups from the stage may run at the same time.
    func apply(_ entry: ReferenceEntry) throws(ReferenceRejection)
}

/// One record of a reference topic: its key, its value (nil for a tombstone, a null or empty
/// value, which deletes the key) and where it sits; the shape the reference store keeps.
public typealias ReferenceEntry = StoredReferenceValue

/// Why a reference record was not applied.
public struct ReferenceRejection: Error, Sendable, Equatable, CustomStringConvertible {
    public let reason: String

    public init(_ reason: String) { self.reason = reason }

    public var description: String { reason }
}

/// The worker gave up catching up with its reference topics (broker gone, partitions stuck).
public struct ReferenceCatchUpError: Error, CustomStringConvertible {
    public let description: String

    public init(_ description: String) { self.description = description }
}
