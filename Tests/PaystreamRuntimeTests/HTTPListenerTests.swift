import Foundation
import PaystreamRuntime
import Synchronization
import PaystreamTesting
import Testing

/// The listener channel callbacks arrive at: the body handed over byte for byte, 413 above the
/// size limit, and a client that sends half a request and stalls cut off after the idle timeout.
@Suite("HTTP listener")
struct HTTPListenerTests {
    @Test("a body reaches the handler byte for byte with its headers (a handler slower than the idle timeout still answers); over max_body it is 413 and never handled; a stalled client is cut off")
    func limits() async throws {
        let handled = Handled()
        let listener = try await HTTPListener.start(listen: "127.0.0.1:0", maxBody: 1024, idleTimeout: .milliseconds(500)) { request in
            handled.count.withLock { $0 += 1 }
            // Longer than the idle timeout: a request being handled is not an idle connection.
            try? await Task.sleep(for: .milliseconds(800))
            var echo = request.body
            echo.append(Data("|\(request.method) \(request.target) \(request.header("X-Sign") ?? "-")".utf8))
            return HTTPResponse(status: 200, body: echo)
        }
        defer { Task { await listener.stop() } }
        let body = "a=1&b=%E4%B8%AD+x\r\n"
        var (status, output) = try runTool("/usr/bin/curl", ["-s", "-X", "POST", "-H", "X-Sign: s1", "--data-binary", "@-",
                                                              "http://\(listener.address)/alipay/notify?q=1"], input: body)
        #expect(status == 0 && output == body + "|POST /alipay/notify?q=1 s1", "curl \(status): \(output)")
        (status, output) = try runTool("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "--data-binary", "@-",
                                                          "http://\(listener.address)/alipay/notify"], input: String(repeating: "x", count: 5000))
        #expect(output == "413")
        #expect(handled.count.withLock { $0 } == 1)
        // Half a request, then nothing: the listener closes the connection after its idle timeout.
        let (_, stalled) = try runTool("/usr/bin/python3", ["-c", """
            import socket, sys, time
            host, port = sys.argv[1].rsplit(":", 1)
            s = socket.create_connection((host, int(port)))
            s.sendall(b"POST /alipay/notify HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 100\\r\\n\\r\\nabc")
            s.settimeout(10)
            start = time.time()
            data = s.recv(100)
            print("closed after %.1f s, %d bytes" % (time.time() - start, len(data)))
            """, listener.address])
        // Closed (0 bytes, no answer) well before the client's own 10 s.
        let seconds = stalled.split(separator: " ").dropFirst(2).first.flatMap { Double($0) }
        #expect(seconds.map { $0 < 5 } == true && stalled.hasSuffix(", 0 bytes\n"), "\(stalled)")
        #expect(handled.count.withLock { $0 } == 1)
    }
}

/// How many requests reached the handler.
final class Handled: Sendable {
    let count = Mutex(0)
}
