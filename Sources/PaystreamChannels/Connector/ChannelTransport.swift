import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import PaystreamAsync

/// What came back from a channel's server (header names lowercased).
public struct ChannelHTTPResponse: Sendable {
    public var status: Int
    public var headers: [String: String]
    public var body: Data

    public init(status: Int, headers: [String: String], body: Data) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// How a connector reaches its channel: one request, a deadline for all of it. Errors are text:
/// every one of them makes the outcome `unknown`.
public protocol ChannelTransport: Sendable {
    func send(method: String, url: String, headers: [(String, String)], body: Data, timeout: Duration) async -> Result<ChannelHTTPResponse, ChannelTransportError>
}

public struct ChannelTransportError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The transport over AsyncHTTPClient: one client for the process, redirects refused (a channel
/// answers where it is called), bodies read up to 1 MiB.
public struct HTTPChannelTransport: ChannelTransport {
    static let client = HTTPClient(
        eventLoopGroup: HTTPClient.defaultEventLoopGroup,
        configuration: HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5)),
                                                decompression: .disabled))

    public init() {}

    /// The body, or nil if it was not all there by `end`; the read is then cancelled (closing the
    /// connection) but not waited for.
    static func collect(_ response: HTTPClientResponse, upTo limit: Int, until end: ContinuousClock.Instant) async -> Result<ByteBuffer, any Error>? {
        await untilDeadline(end) {
            do { return .success(try await response.body.collect(upTo: limit)) } catch { return .failure(error) }
        }
    }

    public func send(method: String, url: String, headers: [(String, String)], body: Data,
                     timeout: Duration) async -> Result<ChannelHTTPResponse, ChannelTransportError> {
        var request = HTTPClientRequest(url: url)
        request.method = HTTPMethod(rawValue: method)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.headers.replaceOrAdd(name: "user-agent", value: "Paystream-ChannelGateway/1")
        if !body.isEmpty || method == "POST" { request.body = .bytes(ByteBuffer(bytes: body)) }
        let deadline = NIODeadline.now() + .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000
                                                         + timeout.components.attoseconds / 1_000_000_000)
        let end = ContinuousClock.now + timeout
        do {
            let response = try await Self.client.execute(request, deadline: deadline)
            // The whole call, to the body's last byte, within the timeout: a channel that sends
            // its headers and stalls is a timeout (unknown), not a call that never ends.
            let body = await Self.collect(response, upTo: 1 << 20, until: end)
            guard let body else { return .failure(ChannelTransportError("timeout after \(timeout) (the reply's body stalled)")) }
            let bytes = try body.get()
            var names: [String: String] = [:]
            for (name, value) in response.headers { names[name.lowercased()] = value }
            return .success(ChannelHTTPResponse(status: Int(response.status.code), headers: names, body: Data(bytes.readableBytesView)))
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            return .failure(ChannelTransportError("timeout after \(timeout)"))
        } catch {
            return .failure(ChannelTransportError("\(error)"))
        }
    }
}
