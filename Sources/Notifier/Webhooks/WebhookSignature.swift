import Crypto
import Foundation

/// A Standard Webhooks signing secret: `whsec_` followed by the base64 of the key bytes. The
/// prefix is not part of the key, and the rest is decoded, never used as text (a secret used as
/// its base64 string signs with the wrong key, and every signature fails to verify).
/// `description` never shows the key.
public struct WebhookSecret: Sendable, Equatable, CustomStringConvertible {
    /// The key bytes (kept as bytes: `SymmetricKey` is not `Sendable`).
    let bytes: Data
    var key: SymmetricKey { SymmetricKey(data: bytes) }

    public init(_ text: String) throws(WebhookSecretError) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard trimmed.hasPrefix("whsec_") else { throw WebhookSecretError("a signing secret starts with whsec_") }
        guard let bytes = Data(base64Encoded: String(trimmed.dropFirst("whsec_".count))), !bytes.isEmpty else {
            throw WebhookSecretError("the part after whsec_ is not base64")
        }
        guard bytes.count >= 24, bytes.count <= 64 else {
            throw WebhookSecretError("a signing key is 24 to 64 bytes, this one is \(bytes.count)")
        }
        self.bytes = bytes
    }

    public var description: String { "whsec_…(\(bytes.count) bytes)" }
}

public struct WebhookSecretError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Standard Webhooks 1.0 signatures: `v1,` + base64(HMAC-SHA256(key, "<id>.<timestamp>.<body>"))
/// over the exact body bytes sent. While a secret is rotated, a delivery carries one signature
/// per secret, space-separated, so receivers on either secret verify it.
public enum WebhookSignature {
    public static func sign(id: String, timestamp: Int64, body: Data, secret: WebhookSecret) -> String {
        var message = Data("\(id).\(timestamp).".utf8)
        message.append(body)
        let mac = HMAC<SHA256>.authenticationCode(for: message, using: secret.key)
        return "v1," + Data(mac).base64EncodedString()
    }

    /// The `webhook-signature` header: one `v1,…` per secret, in order.
    public static func header(id: String, timestamp: Int64, body: Data, secrets: [WebhookSecret]) -> String {
        secrets.map { sign(id: id, timestamp: timestamp, body: body, secret: $0) }.joined(separator: " ")
    }

    /// Whether `header` holds a valid signature by `secret` for the message, compared in constant
    /// time, and the timestamp is within `tolerance` seconds of `now` (a replayed old delivery
    /// fails).
    public static func verify(header: String, id: String, timestamp: Int64, body: Data, secret: WebhookSecret,
                              now: Date, tolerance: TimeInterval = 300) -> Bool {
        guard abs(now.timeIntervalSince1970 - Double(timestamp)) <= tolerance else { return false }
        var message = Data("\(id).\(timestamp).".utf8)
        message.append(body)
        for signature in header.split(separator: " ") where signature.hasPrefix("v1,") {
            guard let mac = Data(base64Encoded: String(signature.dropFirst(3))) else { continue }
            if HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: message, using: secret.key) { return true }
        }
        return false
    }
}
