import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// systemd's notify protocol, spoken natively (no libsystemd): one datagram of `KEY=VALUE` lines
/// to the AF_UNIX socket in `$NOTIFY_SOCKET` (a path, or `@name` for the abstract namespace).
/// The worker says `READY=1` once its group is joined with reference data caught up, `STATUS=`
/// with what it owns, `WATCHDOG=1` while its loop makes progress and `STOPPING=1` on shutdown.
/// Without `$NOTIFY_SOCKET` (not under systemd, or `Type=simple`) there is no notifier.
public struct SystemdNotify: Sendable {
    public let socketPath: String
    /// Half of `$WATCHDOG_USEC` (when it is meant for this process): how often `WATCHDOG=1` is
    /// due while the loop makes progress. nil: no watchdog.
    public let watchdogPing: Duration?

    public init(socketPath: String, watchdogPing: Duration?) {
        self.socketPath = socketPath
        self.watchdogPing = watchdogPing
    }

    /// The notifier the environment asks for, or nil.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment,
                                       pid: Int32 = getpid()) -> SystemdNotify? {
        guard let path = environment["NOTIFY_SOCKET"], path.count > 1, path.hasPrefix("/") || path.hasPrefix("@") else { return nil }
        var ping: Duration?
        if let text = environment["WATCHDOG_USEC"], let usec = UInt64(text), usec > 0,
           environment["WATCHDOG_PID"].map({ Int32($0) == pid }) ?? true {
            ping = .microseconds(Int64(usec / 2))
        }
        return SystemdNotify(socketPath: path, watchdogPing: ping)
    }

    /// Sends one datagram of `fields` (in order, one `KEY=VALUE` line each; a value's newlines
    /// become spaces). Returns false when it could not be sent (systemd gone): nothing to do then.
    @discardableResult
    public func send(_ fields: KeyValuePairs<String, String>) -> Bool {
        send(fields.map { "\($0.key)=\($0.value.replacingOccurrences(of: "\n", with: " "))" }.joined(separator: "\n"))
    }

    @discardableResult
    public func send(_ message: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var path = Array(socketPath.utf8)
        if path.first == UInt8(ascii: "@") { path[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.count < capacity else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { bytes in
            for (index, byte) in path.enumerated() { bytes[index] = byte }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + path.count + (path.first == 0 ? 0 : 1))
        let bytes = Array(message.utf8)
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                bytes.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), address, length) }
            }
        }
        return sent == bytes.count
    }
}
