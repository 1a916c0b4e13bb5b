import Foundation
import PaystreamRuntime
import PaystreamTesting
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// systemd's notify protocol against a datagram socket of the test's own: the message format,
/// both kinds of socket address, the watchdog's settings, and a daemon's READY, STATUS, WATCHDOG
/// and STOPPING.
@Suite("systemd notify")
struct SystemdNotifyTests {
    @Test("one datagram of KEY=VALUE lines, to a socket path or an abstract name; WATCHDOG_USEC halved, for this process only")
    func protocolAndEnvironment() async throws {
        let directory = try temporaryDirectory("notify")
        for path in ["\(directory)/notify.sock", "@paystream-test-\(UUID().uuidString.prefix(8))"] {
            let socket = try NotifySocket(path: path)
            let notify = SystemdNotify(socketPath: path, watchdogPing: nil)
            #expect(notify.send(["READY": "1", "STATUS": "two\nlines"]))
            #expect(notify.send(["WATCHDOG": "1"]))
            let deadline = ContinuousClock.now + .seconds(5)
            while socket.messages.count < 2 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            #expect(socket.messages.map(\.text) == ["READY=1\nSTATUS=two lines", "WATCHDOG=1"], "\(path)")
            socket.close()
        }
        #expect(!SystemdNotify(socketPath: "\(directory)/nobody.sock", watchdogPing: nil).send(["READY": "1"]))

        #expect(SystemdNotify.fromEnvironment([:]) == nil)
        #expect(SystemdNotify.fromEnvironment(["NOTIFY_SOCKET": "relative.sock"]) == nil)
        let watched = try #require(SystemdNotify.fromEnvironment(["NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "30000000"], pid: 42))
        #expect(watched.watchdogPing == .seconds(15))
        #expect(SystemdNotify.fromEnvironment(["NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "42"], pid: 42)?
            .watchdogPing == .seconds(15))
        #expect(SystemdNotify.fromEnvironment(["NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "7"], pid: 42)?
            .watchdogPing == nil)
    }

    @Test("a daemon under Type=notify: READY=1 with its partitions once joined, WATCHDOG=1 every half WATCHDOG_USEC while it runs, STOPPING=1 on SIGTERM")
    func daemon() async throws {
        let socketPath = try temporaryDirectory("notify") + "/notify.sock"
        let socket = try NotifySocket(path: socketPath)
        defer { socket.close() }
        let setup = try await NotifierUnderTest.start("notify", environment: ["NOTIFY_SOCKET": socket.path, "WATCHDOG_USEC": "1000000"])
        defer { setup.stop() }
        let daemon = setup.daemon
        let deadline = ContinuousClock.now + .seconds(30)
        while !socket.messages.contains(where: { $0.text.hasPrefix("READY=1") }) {
            guard ContinuousClock.now < deadline, daemon.isRunning else { Issue.record("no READY=1:\n\(daemon.log)"); return }
            try await Task.sleep(for: .milliseconds(50))
        }
        let ready = try #require(socket.messages.first { $0.text.hasPrefix("READY=1") })
        #expect(ready.text == "READY=1\nSTATUS=notifier: partitions 0,1 of 2; lag 0", "\(ready.text)")
        #expect(daemon.log.contains("partitions assigned"))
        try await Task.sleep(for: .seconds(3))
        // The window as it really was (a loaded machine wakes the test late): one ping per 0.5 s
        // of it at most, give or take the first.
        let window = ContinuousClock.now - ready.at
        let pings = socket.messages.filter { $0.text == "WATCHDOG=1" && $0.at > ready.at }
        let most = Int(window / .milliseconds(500)) + 1
        #expect(pings.count >= 3 && pings.count <= most, "about one every 0.5 s: \(pings.count) in \(window)")
        #expect(await daemon.stop() == 0)
        let stopping = socket.messages.filter { $0.text.hasPrefix("STOPPING=1") }
        #expect(stopping.count == 1 && stopping.first?.text.contains("STATUS=stopping") == true)
    }
}
