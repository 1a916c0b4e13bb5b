import Crypto
import Foundation

/// WeChat Pay APIv3 signatures (`WECHATPAY2-SHA256-RSA2048`: SHA256withRSA, base64).
///
/// - A merchant's **request** signs `METHOD\nPATH?QUERY\ntimestamp\nnonce\nbody\n` (the body is
///   empty for GET) and sends it in `Authorization`.
/// - WeChat Pay's **responses and callbacks** sign `timestamp\nnonce\nbody\n` over the raw body
///   and send it in the `Wechatpay-*` headers, with the serial of the key that signed.
public enum WeChatPaySignature {
    public static let scheme = "WECHATPAY2-SHA256-RSA2048"

    public static func requestMessage(method: String, pathAndQuery: String, timestamp: Int64, nonce: String, body: Data) -> Data {
        var message = Data("\(method)\n\(pathAndQuery)\n\(timestamp)\n\(nonce)\n".utf8)
        message.append(body)
        message.append(UInt8(ascii: "\n"))
        return message
    }

    public static func responseMessage(timestamp: String, nonce: String, body: Data) -> Data {
        var message = Data("\(timestamp)\n\(nonce)\n".utf8)
        message.append(body)
        message.append(UInt8(ascii: "\n"))
        return message
    }

    /// The `Authorization` header of a request.
    public static func authorization(mchid: String, serialNo: String, method: String, pathAndQuery: String, body: Data,
                                     timestamp: Int64, nonce: String, key: RSASigningKey) -> String {
        let signature = key.sign(requestMessage(method: method, pathAndQuery: pathAndQuery, timestamp: timestamp, nonce: nonce, body: body))
        return "\(scheme) mchid=\"\(mchid)\",nonce_str=\"\(nonce)\",timestamp=\"\(timestamp)\",serial_no=\"\(serialNo)\",signature=\"\(signature)\""
    }
}

/// An `Authorization` header read back (a simulator checks the merchant's requests with it).
public struct WeChatPayAuthorization: Sendable, Equatable {
    public let mchid: String
    public let nonce: String
    public let timestamp: Int64
    public let serialNo: String
    public let signature: String

    public init?(header: String) {
        guard header.hasPrefix(WeChatPaySignature.scheme + " ") else { return nil }
        var fields: [String: String] = [:]
        for part in header.dropFirst(WeChatPaySignature.scheme.count + 1).split(separator: ",") {
            guard let equals = part.firstIndex(of: "=") else { return nil }
            let name = part[..<equals].trimmingCharacters(in: .whitespaces)
            var value = part[part.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            guard value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") else { return nil }
            value = String(value.dropFirst().dropLast())
            guard fields.updateValue(value, forKey: name) == nil else { return nil }
        }
        guard let mchid = fields["mchid"], let nonce = fields["nonce_str"], let timestamp = fields["timestamp"].flatMap({ Int64($0) }),
              let serialNo = fields["serial_no"], let signature = fields["signature"] else { return nil }
        self.mchid = mchid
        self.nonce = nonce
        self.timestamp = timestamp
        self.serialNo = serialNo
        self.signature = signature
    }
}

/// Why a WeChat Pay response or callback was refused (each counted under its own name).
public enum WeChatPayVerificationError: String, Error, Sendable, CaseIterable, CustomStringConvertible {
    case missingHeader = "missing_header"
    case unsupportedSignatureType = "unsupported_signature_type"
    /// `WECHATPAY/SIGNTEST/…`: WeChat Pay's probe that a merchant really verifies.
    case signatureProbe = "signature_probe"
    /// More than the window (5 minutes) away from our clock: a replay, or a clock to fix.
    case staleTimestamp = "stale_timestamp"
    /// A serial no configured key has (a rotation the config missed, or a forgery).
    case unknownSerial = "unknown_serial"
    case badSignature = "bad_signature"

    public var description: String {
        switch self {
        case .missingHeader: "a Wechatpay-Timestamp, -Nonce, -Signature or -Serial header is missing"
        case .unsupportedSignatureType: "Wechatpay-Signature-Type is not WECHATPAY2-SHA256-RSA2048"
        case .signatureProbe: "a WECHATPAY/SIGNTEST/ probe signature (refused, as WeChat Pay expects)"
        case .staleTimestamp: "Wechatpay-Timestamp is more than 5 minutes from now"
        case .unknownSerial: "Wechatpay-Serial names no configured platform certificate or public key"
        case .badSignature: "the signature does not verify"
        }
    }
}

/// WeChat Pay's verifying keys, by the serial its messages name: platform certificates (their
/// uppercase hex serial) and/or the WeChat Pay public key (`PUB_KEY_ID_…`).
public struct WeChatPayVerifier: Sendable {
    public let keys: [String: RSAVerifyingKey]
    public let window: TimeInterval

    public init(keys: [String: RSAVerifyingKey], window: TimeInterval = 300) {
        self.keys = keys
        self.window = window
    }

    /// Checks a response's or callback's `Wechatpay-*` headers (names matched without case)
    /// against its raw body.
    public func verify(headers: [String: String], body: Data, now: Date) throws(WeChatPayVerificationError) {
        func header(_ name: String) -> String? {
            headers.first { $0.key.caseInsensitiveCompare(name) == .orderedSame }?.value
        }
        guard let timestamp = header("Wechatpay-Timestamp"), let nonce = header("Wechatpay-Nonce"),
              let signature = header("Wechatpay-Signature"), let serial = header("Wechatpay-Serial") else {
            throw .missingHeader
        }
        if let type = header("Wechatpay-Signature-Type"), type != WeChatPaySignature.scheme { throw .unsupportedSignatureType }
        if signature.hasPrefix("WECHATPAY/SIGNTEST/") { throw .signatureProbe }
        guard let seconds = Int64(timestamp), abs(now.timeIntervalSince1970 - TimeInterval(seconds)) <= window else {
            throw .staleTimestamp
        }
        guard let key = keys[serial] else { throw .unknownSerial }
        guard key.isValid(signature: signature, for: WeChatPaySignature.responseMessage(timestamp: timestamp, nonce: nonce, body: body)) else {
            throw .badSignature
        }
    }
}

/// WeChat Pay's side of a signature, for a simulator (and the channel itself): the headers it
/// sends with a response or callback body.
public struct WeChatPaySigner: Sendable {
    public let key: RSASigningKey
    public let serial: String

    public init(key: RSASigningKey, serial: String) {
        self.key = key
        self.serial = serial
    }

    public func headers(body: Data, timestamp: Int64, nonce: String = ChannelNonce.make()) -> [String: String] {
        [
            "Wechatpay-Timestamp": "\(timestamp)",
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": key.sign(WeChatPaySignature.responseMessage(timestamp: "\(timestamp)", nonce: nonce, body: body)),
            "Wechatpay-Serial": serial,
            "Wechatpay-Signature-Type": WeChatPaySignature.scheme,
        ]
    }
}

/// Why a callback's `resource` could not be decrypted.
public struct WeChatPayDecryptionError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// AEAD_AES_256_GCM with the APIv3 key: the `resource` of a callback.
public struct WeChatPayCipher: Sendable {
    /// The key's bytes (a `SymmetricKey` is made per use: it is not `Sendable`).
    let keyBytes: Data
    var key: SymmetricKey { SymmetricKey(data: keyBytes) }

    /// The APIv3 key: 32 ASCII characters, used as the key's bytes. (16 or 24 bytes are AES-128
    /// or -192, which WeChat Pay never issues; they are accepted only for published test vectors.)
    public init(apiV3Key: String) throws(WeChatPayDecryptionError) {
        let bytes = Data(apiV3Key.utf8)
        guard [16, 24, 32].contains(bytes.count) else { throw WeChatPayDecryptionError("the APIv3 key must be 32 bytes") }
        keyBytes = bytes
    }

    /// `ciphertext` is base64 of the ciphertext followed by the 16-byte tag; `nonce` (12
    /// characters) is the IV and `associatedData` the AAD.
    public func decrypt(ciphertext: String, nonce: String, associatedData: String) throws(WeChatPayDecryptionError) -> Data {
        guard let combined = Data(base64Encoded: ciphertext), combined.count > 16 else {
            throw WeChatPayDecryptionError("the ciphertext is not base64 of at least 17 bytes")
        }
        do {
            let box = try AES.GCM.SealedBox(nonce: AES.GCM.Nonce(data: Data(nonce.utf8)), ciphertext: combined.dropLast(16),
                                            tag: combined.suffix(16))
            return try AES.GCM.open(box, using: key, authenticating: Data(associatedData.utf8))
        } catch {
            throw WeChatPayDecryptionError("the resource does not decrypt with the APIv3 key (tampered, or another key)")
        }
    }

    /// The other way (a simulator, and known answers): base64 of ciphertext + tag.
    public func encrypt(_ plaintext: Data, nonce: String, associatedData: String) throws(WeChatPayDecryptionError) -> String {
        do {
            let box = try AES.GCM.seal(plaintext, using: key, nonce: AES.GCM.Nonce(data: Data(nonce.utf8)),
                                       authenticating: Data(associatedData.utf8))
            return (box.ciphertext + box.tag).base64EncodedString()
        } catch {
            throw WeChatPayDecryptionError("the nonce is not usable for AES-GCM")
        }
    }
}
