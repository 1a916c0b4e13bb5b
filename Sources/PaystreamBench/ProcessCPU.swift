import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// CPU time a process has used so far (user + system), read from `/proc/<pid>/stat`.
public enum ProcessCPU {
    /// Seconds of CPU, or nil if the process is gone.
    public static func seconds(pid: Int32) -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        // After "pid (comm)": state is field 3; utime and stime are fields 14 and 15.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// CPU seconds of this process.
    public static var own: Double { seconds(pid: getpid()) ?? 0 }
}

/// CPU used over a stretch of a run by the measured processes (daemons or relay hops), by the
/// broker and by the bench itself (publisher and reader), and the wall time it took.
public struct CPUUse: Sendable {
    public var processes: [String: Double] = [:]
    public var broker: Double?
    public var bench: Double = 0
    public var wallSeconds: Double = 0

    /// The share of the machine's cores all of them kept busy.
    public var busyShare: Double {
        wallSeconds > 0 ? (processes.values.reduce(0, +) + (broker ?? 0) + bench)
            / (wallSeconds * Double(ProcessInfo.processInfo.activeProcessorCount)) : 0
    }

    /// Milliseconds of CPU a second: the measured processes each, and the broker.
    var idleLine: String {
        let seconds = max(wallSeconds, 1e-9)
        let each = processes.sorted { $0.key < $1.key }.map { "\($0.key) \(format($0.value / seconds * 1000, 0))" }
        let total = processes.values.reduce(0, +) / seconds * 1000
        return "\(format(total, 0)) ms of CPU a second (\(each.joined(separator: ", ")))"
            + (broker.map { ", broker \(format($0 / seconds * 1000, 0)) ms a second" } ?? "")
            + ", over \(format(wallSeconds, 1)) s with nothing published"
    }

    /// Starts measuring; `end()` gives the use since.
    static func start(pids: [String: Int32], broker: Int32?) -> () -> CPUUse {
        let before = pids.compactMapValues(ProcessCPU.seconds(pid:))
        let brokerBefore = broker.flatMap(ProcessCPU.seconds(pid:))
        let ownBefore = ProcessCPU.own
        let started = ContinuousClock.now
        return {
            let elapsed = ContinuousClock.now - started
            var use = CPUUse()
            use.wallSeconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            for (name, pid) in pids {
                if let from = before[name], let to = ProcessCPU.seconds(pid: pid) { use.processes[name] = to - from }
            }
            if let brokerBefore, let broker, let now = ProcessCPU.seconds(pid: broker) { use.broker = now - brokerBefore }
            use.bench = ProcessCPU.own - ownBefore
            return use
        }
    }
}
