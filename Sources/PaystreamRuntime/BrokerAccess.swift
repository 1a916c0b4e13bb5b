import Foundation

/// The topics a stage declares: what it consumes, writes and reads in full. Each daemon's stage
/// type also states it statically (`topology(_:)` beside each stage), so that `paystream acl` can
/// print the fleet's ACLs without the daemons' configuration; a test holds the two to each other.
public struct StageTopology: Sendable, Equatable {
    public var stage: String
    /// Consumed by the stage's group (co-partitioned).
    public var inputs: [String]
    /// Published by the batch (its outbox), besides dead letters and forwarded copies.
    public var outputs: [String]
    /// Published outside the batch (a listener, a companion).
    public var sideOutputs: [String]
    /// Read in full by every instance, without a group.
    public var reference: [String]
    /// Where each input's records off their shard are forwarded.
    public var repartition: [String: String]

    public init(stage: String, inputs: [String], outputs: [String], sideOutputs: [String] = [], reference: [String] = [],
                repartition: [String: String]) {
        self.stage = stage
        self.inputs = inputs
        self.outputs = outputs
        self.sideOutputs = sideOutputs
        self.reference = reference
        self.repartition = repartition
    }

    /// A stage's topology as the running stage declares it.
    public init<S: Stage>(of stage: S, topics: TopicNames) {
        self.init(stage: stage.name, inputs: stage.inputTopics, outputs: stage.outputTopics, sideOutputs: stage.sideOutputTopics,
                  reference: stage.referenceFeed?.referenceTopics ?? [], repartition: stage.repartitionTopics(in: topics))
    }

    /// With every input forwarded to `<input>.repartition` (the default).
    public static func defaultRepartition(_ inputs: [String], _ topics: TopicNames) -> [String: String] {
        Dictionary(uniqueKeysWithValues: inputs.map { ($0, topics.repartition(of: $0)) })
    }

    /// Everything the stage's group consumes: the inputs and their repartition topics.
    public var consumed: [String] { inputs + inputs.map { repartition[$0]! } }

    /// Everything the stage publishes: outputs, side outputs, forwarded copies, dead letters (of
    /// every input and every output that is neither a dead-letter nor a reference topic: an
    /// outbox message the broker refuses goes to its topic's), and with `changelog` its changelog
    /// and snapshots.
    public func written(in topics: TopicNames, changelog: Bool) -> [String] {
        let parked = inputs + outputs.filter { !topics.isDeadLetterTopic($0) && !topics.reference.contains($0) }
        var all = outputs + sideOutputs + inputs.map { repartition[$0]! } + parked.map(topics.deadLetter(of:))
        if changelog { all += [topics.changelog(of: stage), topics.snapshots(of: stage)] }
        return Self.unique(all)
    }

    /// Read without a group: reference topics, and the stage's own changelog and snapshots
    /// (restores, standby copies, the fence's read-back).
    public func readInFull(in topics: TopicNames, changelog: Bool) -> [String] {
        Self.unique(reference + (changelog ? [topics.changelog(of: stage), topics.snapshots(of: stage)] : []))
    }

    static func unique(_ names: [String]) -> [String] {
        var seen = Set<String>()
        return names.filter { seen.insert($0).inserted }
    }
}

/// What one daemon may do on the broker, and no more: the ACL bindings for its principal.
public struct BrokerAccess: Sendable, Equatable {
    public enum Operation: String, Sendable, Comparable, CaseIterable {
        case read = "Read", write = "Write", describe = "Describe"
        public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    }

    public enum Resource: Sendable, Hashable, Comparable {
        case topic(String)
        case group(String)

        public var kind: String { switch self { case .topic: "topic" case .group: "group" } }
        public var name: String { switch self { case .topic(let n), .group(let n): n } }
        public static func < (a: Self, b: Self) -> Bool { (a.kind, a.name) < (b.kind, b.name) }
    }

    public var principal: String
    /// Each resource with the operations allowed on it.
    public var grants: [Resource: Set<Operation>]

    public init(principal: String, grants: [Resource: Set<Operation>] = [:]) {
        self.principal = principal
        self.grants = grants
    }

    /// A daemon's access: Read on what its group consumes and what it reads in full, Write on
    /// what it publishes, Describe on both (metadata), Read on its consumer group. Nothing else:
    /// no Create, Delete, Alter, cluster or transactional-id grant (the producer is idempotent,
    /// which Kafka 3.0+ allows with Write on a topic).
    public init(daemon topology: StageTopology, topics: TopicNames, group: String, changelog: Bool = true, principal: String) {
        self.init(principal: principal)
        for topic in topology.consumed + topology.readInFull(in: topics, changelog: changelog) {
            grants[.topic(topic), default: []].formUnion([.read, .describe])
        }
        for topic in topology.written(in: topics, changelog: changelog) {
            grants[.topic(topic), default: []].formUnion([.write, .describe])
        }
        grants[.group(group), default: []].insert(.read)
    }

    public func allows(_ operation: Operation, on resource: Resource) -> Bool { grants[resource]?.contains(operation) == true }

    /// The bindings, one per resource and operation, sorted.
    public var bindings: [(resource: Resource, operation: Operation)] {
        grants.keys.sorted().flatMap { resource in grants[resource]!.sorted().map { (resource, $0) } }
    }
}
