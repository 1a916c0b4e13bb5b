import Foundation
import GRDB
import PaymentWorker
import PaystreamStore

/// Read-only looks into a stage's shard files, for assertions.
public enum ShardInspection {
    /// The shard files of `stage` under `stateDirectory`, sorted.
    public static func shardPaths(stateDirectory: String, stage: String) -> [String] {
        ShardStore.paths(stateDirectory: stateDirectory, stage: stage)
    }

    /// Runs `body` on every shard of `stage`, read-only, waiting for a writer if one is busy.
    public static func read<T>(stateDirectory: String, stage: String, _ body: (Database) throws -> T) throws -> [T] {
        try shardPaths(stateDirectory: stateDirectory, stage: stage).map { try ShardStore.readOnly(path: $0, body) }
    }

    /// Every ledger invariant and payment/hold mismatch in the payment-worker's shards; empty
    /// when all hold.
    public static func paymentProblems(stateDirectory: String) throws -> [String] {
        try read(stateDirectory: stateDirectory, stage: "payment-worker") { try PaymentTables.consistencyProblems($0) }.flatMap { $0 }
    }

    /// Every payment in the payment-worker's shards.
    public static func payments(stateDirectory: String) throws -> [PaymentRecord] {
        try read(stateDirectory: stateDirectory, stage: "payment-worker") { try PaymentTables.payments($0) }.flatMap { $0 }
    }
}
