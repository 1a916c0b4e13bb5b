import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
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
public enum WebhookSender {
    /// One client for the process (never shut down: it lives as long as the daemon).
    static let client = HTTPClient(
        eventLoopGroup: HTTPClient.defaultEventLoopGroup,
        configuration: HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(10)),
                                                decompression: .disabled))

    public static let userAgent = "Paystream-Webhooks/1"

    public static func send(url: String, webhookID: String, body: Data, secrets: [WebhookSecret], timestamp: Date,
                            timeout: Duration) async -> WebhookAnswer {
        let started = ContinuousClock.now
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
            let deadline = NIODeadline.now() + .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000
                                                             + timeout.components.attoseconds / 1_000_000_000)
            let response = try await client.execute(request, deadline: deadline)
            // The answer's body is not kept, but the attempt ends with its last byte, within the
            // same timeout: an endpoint that sends its headers and stalls does not hold the slot.
            guard try await Self.drain(response, upTo: 64 * 1024, until: started + timeout) else {
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
    static func drain(_ response: HTTPClientResponse, upTo limit: Int, until end: ContinuousClock.Instant) async throws -> Bool {
        let decided = FirstOnly()
        return await withCheckedContinuation { continuation in
            let reader = Task {
                _ = try? await response.body.collect(upTo: limit)
                if decided.take() { continuation.resume(returning: true) }
            }
            Task {
                try? await Task.sleep(until: end)
                if decided.take() {
                    reader.cancel()
                    continuation.resume(returning: false)
                }
            }
        }
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

/// True for the first caller only (which of a read and its deadline ends the wait).
private final class FirstOnly: Sendable {
    private let done = Mutex(false)

    func take() -> Bool {
        done.withLock { done in
            defer { done = true }
            return !done
        }
    }
}
