import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// A request as an `HTTPListener` hands it over: the body exactly as received (signatures are
/// checked over these bytes), header names lowercased.
public struct HTTPRequest: Sendable {
    public let method: String
    /// The path and query as sent (`/alipay/notify?x=1`).
    public let target: String
    public let headers: [String: String]
    public let body: Data
    /// Who connected (the TLS terminator in front, normally).
    public let peer: String

    public init(method: String, target: String, headers: [String: String], body: Data, peer: String = "") {
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
        self.peer = peer
    }

    /// The path without the query.
    public var path: String { String(target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? "") }

    public func header(_ name: String) -> String? { headers[name.lowercased()] }
}

public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: Data

    public init(status: Int, headers: [(String, String)] = [], body: Data = Data()) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public static func text(_ status: Int, _ text: String) -> HTTPResponse {
        HTTPResponse(status: status, headers: [("content-type", "text/plain; charset=utf-8")], body: Data(text.utf8))
    }

    public static func json(_ status: Int, _ body: Data) -> HTTPResponse {
        HTTPResponse(status: status, headers: [("content-type", "application/json")], body: body)
    }
}

/// A small HTTP/1.1 server for what channels send us (asynchronous notifications) and for the
/// channel simulators: each request's whole body is collected (at most `maxBody` bytes, else 413
/// and the connection closed), then handed to `handler`, whose answer is written back. A
/// connection idle for `idleTimeout` (a client that sends half a request and stalls) is closed,
/// but never while its request is being handled.
/// Plain HTTP: TLS is terminated in front of it (docs/operations.md).
public final class HTTPListener: Sendable {
    public typealias Handler = @Sendable (HTTPRequest) async -> HTTPResponse

    let channel: any Channel
    /// The address it listens on (with the port picked when `:0` was asked for).
    public let address: String

    public static func start(listen: String, maxBody: Int = 64 * 1024, idleTimeout: Duration = .seconds(10),
                             handler: @escaping Handler) async throws -> HTTPListener {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), (0...65535).contains(port) else {
            throw ConfigurationError("listen address '\(listen)' is not HOST:PORT")
        }
        let host = String(listen[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        let idle = TimeAmount.nanoseconds(Int64(idleTimeout.components.seconds) * 1_000_000_000
                                          + idleTimeout.components.attoseconds / 1_000_000_000)
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(allTimeout: idle))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(HTTPListenerHandler(maxBody: maxBody, handler: handler))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.bind(host: host, port: port).get()
        } catch {
            throw ConfigurationError("cannot listen on \(listen): \(error)")
        }
        let bound = channel.localAddress.map { "\($0.ipAddress ?? host):\($0.port ?? port)" } ?? listen
        return HTTPListener(channel: channel, address: bound)
    }

    init(channel: any Channel, address: String) {
        self.channel = channel
        self.address = address
    }

    public func stop() async {
        try? await channel.close()
    }
}

private final class HTTPListenerHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let maxBody: Int
    let handler: HTTPListener.Handler
    private var head: HTTPRequestHead?
    private var body = Data()
    private var refused = false
    /// A request handed to the handler and not answered yet: the connection is not idle (the
    /// answer may wait on Kafka), whatever the idle timer says.
    private var handling = false

    init(maxBody: Int, handler: @escaping HTTPListener.Handler) {
        self.maxBody = maxBody
        self.handler = handler
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let request):
            head = request
            body = Data()
            refused = false
            if let length = request.headers.first(name: "content-length").flatMap(Int.init), length > maxBody {
                refuse(context: context, version: request.version)
            }
        case .body(var buffer):
            guard !refused else { return }
            if body.count + buffer.readableBytes > maxBody {
                refuse(context: context, version: head?.version ?? .http1_1)
                return
            }
            body.append(contentsOf: buffer.readBytes(length: buffer.readableBytes) ?? [])
        case .end:
            guard let request = head, !refused else { return }
            head = nil
            var headers: [String: String] = [:]
            for (name, value) in request.headers {
                let name = name.lowercased()
                headers[name] = headers[name].map { "\($0), \(value)" } ?? value
            }
            let incoming = HTTPRequest(method: request.method.rawValue, target: request.uri, headers: headers, body: body,
                                       peer: context.remoteAddress?.description ?? "")
            body = Data()
            let keepAlive = request.isKeepAlive
            let version = request.version
            let handler = self.handler
            let loop = context.eventLoop
            let bound = NIOLoopBound(context, eventLoop: loop)
            let outbound = NIOLoopBound(self, eventLoop: loop)
            handling = true
            loop.makeFutureWithTask { await handler(incoming) }.whenSuccess { response in
                outbound.value.handling = false
                outbound.value.write(response, version: version, keepAlive: keepAlive, context: bound.value)
            }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            if !handling { context.close(promise: nil) }
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    private func refuse(context: ChannelHandlerContext, version: HTTPVersion) {
        refused = true
        write(.text(413, "request body over \(maxBody) bytes\n"), version: version, keepAlive: false, context: context)
    }

    private func write(_ response: HTTPResponse, version: HTTPVersion, keepAlive: Bool, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        for (name, value) in response.headers { headers.add(name: name, value: value) }
        headers.replaceOrAdd(name: "content-length", value: "\(response.body.count)")
        headers.replaceOrAdd(name: "connection", value: keepAlive ? "keep-alive" : "close")
        let status = HTTPResponseStatus(statusCode: response.status)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: status, headers: headers))), promise: nil)
        if !response.body.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: response.body)))), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            if !keepAlive { context.close(promise: nil) }
        }
    }
}
