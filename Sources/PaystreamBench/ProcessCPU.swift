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
