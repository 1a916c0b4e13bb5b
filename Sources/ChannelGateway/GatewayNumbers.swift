import Foundation
import GRDB
import PaystreamStore

/// Our numbers at the channels read back into payments, from channel-gateway's shards: a
/// channel's bill names the `out_trade_no` we made, not the payment (`paystream statements load`).
public enum GatewayNumbers {
    /// Whether `text` has the shape of a number the gateway makes with `prefix`.
    public static func isOurs(_ text: String, prefix: String) -> Bool { OutNumber.partition(of: text, prefix: prefix) != nil }

    /// The payment id of each of `numbers` found in the gateway's shards under `stateDirectory`
    /// (`<state>/channel-gateway/p<partition>.sqlite`, the partition read from the number).
    public static func paymentIDs(of numbers: Set<String>, stateDirectory: String, prefix: String) throws -> [String: String] {
        var found: [String: String] = [:]
        let byPartition = Dictionary(grouping: numbers) { OutNumber.partition(of: $0, prefix: prefix) }
        for (partition, group) in byPartition {
            guard let partition else { continue }
            let path = "\(stateDirectory)/channel-gateway/p\(partition).sqlite"
            guard FileManager.default.fileExists(atPath: path) else { continue }
            try ShardStore.readOnly(path: path) { db in
                for number in group {
                    if let payment = try GatewayTables.order(db, outNo: number)?.paymentId { found[number] = payment }
                }
            }
        }
        return found
    }
}
