/// Who writes a shard's changelog: the instance that claimed the partition last. An owner
/// appends a claim (`ChangelogRecord.Kind.claim`) with a newer epoch once it has restored the
/// shard, and writes its records under that claim; an old owner cut off from the group but still
/// running (a zombie) goes on writing under its older one.
public struct ChangelogClaimant: Sendable, Equatable, CustomStringConvertible {
    /// Grows by one with each claim on the partition; 0 before the first.
    public var epoch: Int64
    /// Who claimed: the instance (host/pid) and its group member id, unique per claim with the epoch.
    public var owner: String

    public init(epoch: Int64, owner: String) {
        self.epoch = epoch
        self.owner = owner
    }

    /// Before any claim (records written before claims existed, or by tools).
    public static let none = ChangelogClaimant(epoch: 0, owner: "")

    public var description: String { epoch == 0 ? "no claim" : "epoch \(epoch) by \(owner)" }
}

/// The log's fencing rule, as a value every reader applies in log order: a claim newer than
/// the current one takes over; a claim not newer (one that lost a race to the same epoch, or a
/// stale one) is ignored; a transaction or schema record counts only if it was written under the
/// current claim. So nothing a zombie writes after the new owner's claim ever reaches a copy of
/// the shard, whatever order the broker put it in.
public struct ChangelogFence: Sendable, Equatable {
    public private(set) var current: ChangelogClaimant

    public init(current: ChangelogClaimant = .none) {
        self.current = current
    }

    public enum Verdict: Sendable, Equatable {
        /// A newer claim: from here on the log is its owner's.
        case claimed
        /// A record of the current owner: apply it (in `txn` order).
        case admitted
        /// Written under an older or a losing claim: ignore it.
        case fenced
    }

    public mutating func admit(_ record: ChangelogRecord) -> Verdict {
        switch record.kind {
        case .claim:
            guard record.epoch > current.epoch else { return .fenced }
            current = record.claimant
            return .claimed
        case .transaction, .schema:
            return record.claimant == current ? .admitted : .fenced
        }
    }
}

/// A shard's claims in log order, as `ChangelogFence` judges them, with what the log took from
/// each owner and what it fenced while each held the partition.
public struct ClaimHistory: Sendable {
    public struct Claim: Sendable, Equatable {
        public var epoch: Int64
        public var owner: String
        public var atTxn: Int64
        public var tookOver: Bool
        public var records = 0
        public var fenced = 0

        public init(epoch: Int64, owner: String, atTxn: Int64, tookOver: Bool, records: Int = 0, fenced: Int = 0) {
            (self.epoch, self.owner, self.atTxn, self.tookOver, self.records, self.fenced) = (epoch, owner, atTxn, tookOver, records, fenced)
        }
    }

    public private(set) var claims: [Claim] = []
    public private(set) var unclaimedRecords = 0
    private var fence = ChangelogFence()
    /// The claim in `claims` that holds the partition now.
    private var holder: Int?

    public init() {}

    public mutating func add(_ record: ChangelogRecord) {
        switch fence.admit(record) {
        case .claimed:
            claims.append(Claim(epoch: record.epoch, owner: record.owner, atTxn: record.txn, tookOver: true))
            holder = claims.count - 1
        case .admitted:
            if let holder { claims[holder].records += 1 } else { unclaimedRecords += 1 }
        case .fenced:
            if record.kind == .claim {
                claims.append(Claim(epoch: record.epoch, owner: record.owner, atTxn: record.txn, tookOver: false))
            } else if let holder {
                claims[holder].fenced += 1
            }
        }
    }
}
