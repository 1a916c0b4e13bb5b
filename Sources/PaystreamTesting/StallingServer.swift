import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An HTTP peer that answers every request with its status line and headers and the first bytes
/// of a body it never finishes (a Python process on a free loopback port, stopped by its PID):
/// for the tests of deadlines that must cover the whole exchange.
public final class StallingServer: @unchecked Sendable {
    public let port: Int
    let process = Process()

    public init() throws {
        port = try freeLoopbackPort()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", """
            import socket, threading, time, sys
            server = socket.socket(); server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind(("127.0.0.1", int(sys.argv[1]))); server.listen(16)
            def serve(connection):
                try:
                    connection.recv(65536)
                    connection.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: 1000\\r\\n\\r\\n{\\"partial\\":")
                    time.sleep(300)
                except Exception:
                    pass
            while True:
                connection, _ = server.accept()
                threading.Thread(target=serve, args=(connection,), daemon=True).start()
            """, "\(port)"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(10)
        while !canConnect(port: port) {
            guard Date() < deadline, process.isRunning else { stop(); throw TestSupportError("the stalling server did not start") }
            usleep(20_000)
        }
    }

    public var url: String { "http://127.0.0.1:\(port)" }

    public func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    deinit { stop() }
}
