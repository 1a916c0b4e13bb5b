import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// What `/livez` and `/readyz` answer from: set by the worker loop, read by the HTTP server.
public final class WorkerHealth: Sendable {
    private struct State {
        var lastIteration = ContinuousClock.now
        var joined = false
        var producerHealthy = true
        /// Shards being restored from the changelog, with their progress.
        var restoring: [Int32: RestoreSummary] = [:]
    }
    private let state = Mutex(State())
    /// The loop is alive while it went round within this long.
    public let livenessWindow: Duration

    public init(livenessWindow: Duration = .seconds(60)) { self.livenessWindow = livenessWindow }

    func wentRound() { state.withLock { $0.lastIteration = .now } }
    func joined() { state.withLock { $0.joined = true } }
    func producer(healthy: Bool) { state.withLock { $0.producerHealthy = healthy } }
    func restoring(partition: Int32, _ summary: RestoreSummary) { state.withLock { $0.restoring[partition] = summary } }
    func restored(partition: Int32) { state.withLock { $0.restoring[partition] = nil } }

    /// The worker loop went round recently.
    public var isLive: Bool { state.withLock { ContinuousClock.now - $0.lastIteration < livenessWindow } }
    /// Joined with reference data caught up (it is read before the join), and the producer
    /// delivers; why not, when not.
    public var readiness: (ready: Bool, why: String) {
        state.withLock { state in
            if !state.restoring.isEmpty {
                let shards = state.restoring.sorted { $0.key < $1.key }.map { "partition \($0.key) (\($0.value.records) records)" }
                return (false, "restoring from the changelog: \(shards.joined(separator: ", "))")
            }
            if !state.joined { return (false, "not joined yet (reference data catching up, or the group forming)") }
            if !state.producerHealthy { return (false, "the producer is failing to deliver") }
            if ContinuousClock.now - state.lastIteration >= livenessWindow { return (false, "the worker loop is not going round") }
            return (true, "ready")
        }
    }
}

/// A small HTTP/1.1 listener per daemon: `/metrics` (Prometheus text format 0.0.4), `/livez` and
/// `/readyz` (200 or 503 with a one-line reason). GET only; nothing else is served.
public final class HealthServer: Sendable {
    let channel: any Channel
    /// The address it listens on (with the port picked when `:0` was asked for).
    public let address: String

    public static func start(listen: String, health: WorkerHealth) async throws -> HealthServer {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), (0...65535).contains(port) else {
            throw ConfigurationError("metrics.listen '\(listen)' is not HOST:PORT")
        }
        let host = String(listen[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(HealthHandler(health: health))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.bind(host: host, port: port).get()
        } catch {
            throw ConfigurationError("metrics.listen \(listen): cannot listen: \(error)")
        }
        let bound = channel.localAddress.map { "\($0.ipAddress ?? host):\($0.port ?? port)" } ?? listen
        return HealthServer(channel: channel, address: bound)
    }

    init(channel: any Channel, address: String) {
        self.channel = channel
        self.address = address
    }

    public func stop() async {
        try? await channel.close()
    }
}

private final class HealthHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let health: WorkerHealth
    private var head: HTTPRequestHead?

    init(health: WorkerHealth) { self.health = health }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let request): head = request
        case .body: break
        case .end:
            guard let request = head else { return }
            head = nil
            let (status, contentType, body) = answer(request)
            var headers = HTTPHeaders()
            headers.add(name: "content-type", value: contentType)
            headers.add(name: "content-length", value: "\(body.utf8.count)")
            headers.add(name: "connection", value: request.isKeepAlive ? "keep-alive" : "close")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
            if request.method != .HEAD {
                context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
            }
            let keepAlive = request.isKeepAlive
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
                if !keepAlive { context.close(promise: nil) }
            }
        }
    }

    private func answer(_ request: HTTPRequestHead) -> (HTTPResponseStatus, String, String) {
        let text = "text/plain; charset=utf-8"
        guard request.method == .GET || request.method == .HEAD else { return (.methodNotAllowed, text, "GET only\n") }
        switch request.uri.split(separator: "?").first.map(String.init) ?? "" {
        case "/metrics":
            return (.ok, "text/plain; version=0.0.4; charset=utf-8", PaystreamMetrics.exposition())
        case "/livez":
            return health.isLive ? (.ok, text, "live\n") : (.serviceUnavailable, text, "the worker loop is not going round\n")
        case "/readyz":
            let (ready, why) = health.readiness
            return (ready ? .ok : .serviceUnavailable, text, why + "\n")
        default:
            return (.notFound, text, "not found: /metrics, /livez, /readyz\n")
        }
    }
}
