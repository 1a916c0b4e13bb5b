import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import PaystreamAsync
import Synchronization

/// What one attempt came to.
public struct WebhookAnswer: Sendable, Equatable {
    /// The HTTP status, when one came.
    public var status: Int?
    /// Why there is no status (timeout, refused, no secret…).
    public var error: String?
    public var duration: Duration
    /// `Retry-After` in seconds, from a 429 or 503.
    public var retryAfter: Double?

    public init(status: Int?, error: String?, duration: Duration, retryAfter: Double? = nil) {
        self.status = status
        self.error = error
        self.duration = duration
        self.retryAfter = retryAfter
    }

    public var isDelivered: Bool { status.map { (200..<300).contains($0) } ?? false }
    public var isGone: Bool { status == 410 }
}

/// Sends one signed delivery (Standard Webhooks 1.0): POST of the exact body bytes with
/// `webhook-id` (the same on every attempt), `webhook-timestamp` (Unix seconds, taken now) and
/// `webhook-signature` (one `v1,…` per secret). Redirects are not followed: an endpoint answers
/// where it was registered.
///
/// Each attempt checks the URL against the `WebhookAddressPolicy`, resolves its host, checks every
/// address and connects to the one it checked (pinned: the name is not resolved again by the
/// HTTP client; TLS still verifies the certificate for the name and sends it as SNI). Resolution,
/// connection, request and answer all fit in the one timeout.
public enum WebhookSender {
    public static let userAgent = "Paystream-Webhooks/1"

    public static func send(url: String, webhookID: String, body: Data, secrets: [WebhookSecret], timestamp: Date,
                            timeout: Duration, policy: WebhookAddressPolicy,
                            resolver: any WebhookResolver = SystemResolver()) async -> WebhookAnswer {
        let started = ContinuousClock.now
        let end = started + timeout
        let target: WebhookAddressPolicy.Target
        switch policy.target(of: url) {
        case .success(let t): target = t
        case .failure(let refusal): return WebhookAnswer(status: nil, error: "refused: \(refusal)", duration: .now - started)
        }
        let addresses: [IPAddress]
        if let literal = target.literal {
            addresses = [literal]
        } else {
            do {
                guard let resolved = try await untilDeadline(end, { try await resolver.resolve(target.host) }) else {
                    return WebhookAnswer(status: nil, error: "timeout after \(timeout) (resolving \(target.host))", duration: .now - started)
                }
                addresses = resolved
            } catch {
                return WebhookAnswer(status: nil, error: describe(error), duration: .now - started)
            }
        }
        let pinned: IPAddress
        switch policy.pick(addresses, for: target) {
        case .success(let address): pinned = address
        case .failure(let refusal): return WebhookAnswer(status: nil, error: "refused: \(refusal)", duration: .now - started)
        }
        let client = PinnedClients.shared.client(host: target.host, address: target.literal == nil ? pinned : nil)

        let seconds = Int64(timestamp.timeIntervalSince1970.rounded(.down))
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.headers.add(name: "user-agent", value: userAgent)
        request.headers.add(name: "webhook-id", value: webhookID)
        request.headers.add(name: "webhook-timestamp", value: String(seconds))
        request.headers.add(name: "webhook-signature", value: WebhookSignature.header(id: webhookID, timestamp: seconds, body: body,
                                                                                      secrets: secrets))
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let left = end - .now
            guard left > .zero else {
                return WebhookAnswer(status: nil, error: "timeout after \(timeout)", duration: .now - started)
            }
            let deadline = NIODeadline.now() + .nanoseconds(Int64(left.components.seconds) * 1_000_000_000
                                                            + left.components.attoseconds / 1_000_000_000)
            let response = try await client.execute(request, deadline: deadline)
            // The answer's body is not kept, but the attempt ends with its last byte, within the
            // same timeout: an endpoint that sends its headers and stalls does not hold the slot.
            guard await Self.drain(response, upTo: 64 * 1024, until: end) else {
                return WebhookAnswer(status: nil, error: "timeout after \(timeout) (the answer's body stalled)", duration: .now - started)
            }
            let status = Int(response.status.code)
            var retryAfter: Double?
            if status == 429 || status == 503, let value = response.headers.first(name: "retry-after") {
                retryAfter = parseRetryAfter(value, now: Date())
            }
            return WebhookAnswer(status: status, error: nil, duration: .now - started, retryAfter: retryAfter)
        } catch is CancellationError {
            return WebhookAnswer(status: nil, error: "cancelled", duration: .now - started)
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            return WebhookAnswer(status: nil, error: "timeout after \(timeout)", duration: .now - started)
        } catch {
            return WebhookAnswer(status: nil, error: describe(error), duration: .now - started)
        }
    }

    /// Reads the body until `end`; false if it was not all there by then. The read is cancelled
    /// then (which closes the connection) but not waited for: a peer that never finishes must not
    /// hold the attempt. A body over `limit` is read up to it.
    static func drain(_ response: HTTPClientResponse, upTo limit: Int, until end: ContinuousClock.Instant) async -> Bool {
        await untilDeadline(end) { _ = try? await response.body.collect(upTo: limit); return true } ?? false
    }

    static func describe(_ error: any Error) -> String {
        let text = String(describing: error)
        return text.count > 300 ? String(text.prefix(300)) + "…" : text
    }

    /// `Retry-After` as seconds: a number of seconds, or an HTTP date (RFC 9110) from `now`.
    public static func parseRetryAfter(_ value: String, now: Date) -> Double? {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        if let seconds = Double(trimmed), seconds >= 0, seconds.isFinite { return seconds }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        guard let date = formatter.date(from: trimmed) else { return nil }
        return max(0, date.timeIntervalSince(now))
    }
}

/// One HTTP client per pinned name → address (a client's DNS override is its configuration), so
/// that connections to the same pinned address are kept alive between attempts. The least
/// recently used is shut down past `limit` (more than the notifier's `max_in_flight`, so one in use
/// is never the one shut down).
final class PinnedClients: Sendable {
    static let shared = PinnedClients(limit: 256)

    private let limit: Int
    private let clients = Mutex<(byKey: [String: HTTPClient], order: [String])>(([:], []))

    init(limit: Int) { self.limit = limit }

    func client(host: String, address: IPAddress?) -> HTTPClient {
        let key = address.map { "\(host)→\($0)" } ?? host
        let (client, evicted): (HTTPClient, HTTPClient?) = clients.withLock { state in
            if let client = state.byKey[key] {
                state.order.removeAll { $0 == key }
                state.order.append(key)
                return (client, nil)
            }
            var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(10)),
                                                         decompression: .disabled)
            if let address { configuration.dnsOverride = [host: "\(address)"] }
            let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
            state.byKey[key] = client
            state.order.append(key)
            var evicted: HTTPClient?
            if state.order.count > limit {
                let oldest = state.order.removeFirst()
                evicted = state.byKey.removeValue(forKey: oldest)
            }
            return (client, evicted)
        }
        if let evicted { Task { try? await evicted.shutdown() } }
        return client
    }
}
