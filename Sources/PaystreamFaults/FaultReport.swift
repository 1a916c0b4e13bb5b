import Foundation

/// What a fault run did and found. `problems` is empty when every end check holds.
public struct FaultReport: Sendable, CustomStringConvertible {
    public var seed: UInt64 = 0
    public var partitions: Int32 = 0
    public var requests = 0
    public var requestKinds: [String: Int] = [:]
    public var payers = 0
    public var hostileRecords = 0
    public var kills: [String: Int] = [:]
    /// Hosts the daemons ran on, how many were lost with their state folder, and the shards
    /// rebuilt from the changelogs for the end checks.
    public var hosts = 1
    public var hostsLost = 0
    public var shardsRebuilt = 0
    /// Daemons frozen past their session timeout and let go on (zombies), and the shard files
    /// set aside because their instance read a newer claim.
    public var zombies = 0
    public var fencedShards = 0
    /// What the daemons' logs say about snapshots, standby copies and claims, by event.
    public var changelogEvents: [String: Int] = [:]
    /// With channel-gateway: what the simulated channels saw (nil when the sandbox answered every method).
    public var channels: String?
    public var frozen: Duration = .zero
    /// Terminal outcomes of the original requests, by status; rejections by reason.
    public var outcomes: [String: Int] = [:]
    public var rejections: [String: Int] = [:]
    public var deadLetters: [String: Int] = [:]
    public var forwarded: [String: Int] = [:]
    public var eventIDs = 0
    public var verify = ""
    /// Daemon logs scanned for card numbers and the configured secrets.
    public var logsScanned = 0
    public var money: [String] = []
    public var duration: Duration = .zero
    public var directory = ""
    public var problems: [String] = []

    public var totalKills: Int { kills.values.reduce(0, +) }

    public var description: String {
        func list(_ counts: [String: Int]) -> String {
            counts.isEmpty ? "none" : counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        }
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        var lines = [
            "fault run, seed \(seed), \(partitions) partitions: \(problems.isEmpty ? "PASSED" : "FAILED with \(problems.count) problem(s)")",
            "  requests:     \(requests) from \(payers) payers (\(list(requestKinds)))",
            "  hostile:      \(hostileRecords) fuzzed records on every input topic",
            "  kills:        \(totalKills) SIGKILLs and restarts (\(list(kills)))",
            "  hosts:        \(hosts), \(hostsLost) lost with its state folder; \(shardsRebuilt) shards rebuilt from the changelogs for the checks",
            "  zombies:      \(zombies) payment-worker frozen past its session timeout, then let go on; \(fencedShards) shard(s) set aside as fenced",
            "  changelog:    \(list(changelogEvents))",
            "  channels:     \(channels ?? "every method answered by the sandbox")",
            "  broker:       \(frozen == .zero ? "never frozen" : "frozen (SIGSTOP) for \(frozen.components.seconds) s once")",
            "  outcomes:     \(list(outcomes))",
            "  rejections:   \(list(rejections))",
            "  dead letters: \(list(deadLetters))",
            "  forwarded:    \(list(forwarded)) (records off their canonical partition)",
            "  event ids:    \(eventIDs) distinct, each with one content",
            "  verify:       \(verify)",
            "  logs:         \(logsScanned) scanned for card numbers and the configured secrets",
        ]
        lines += money.map { "  money:        \($0)" }
        lines.append("  duration:     \(String(format: "%.0f", seconds)) s; logs and configs in \(directory)")
        lines += problems.prefix(50).map { "  PROBLEM: \($0)" }
        if problems.count > 50 { lines.append("  … and \(problems.count - 50) more problems") }
        return lines.joined(separator: "\n")
    }
}
