import Foundation

/// Alipay open platform signatures ("public key" mode, `sign_type=RSA2`: SHA256withRSA, base64).
///
/// Three strings are signed, each its own way:
/// - a **request** (and, in a simulator, anything Alipay itself signs the same way): every
///   parameter but `sign`, empty values dropped, sorted by name, joined `k=v&…` with raw
///   (unescaped) values; `sign_type` is included;
/// - an **asynchronous notification** (V1): every field but `sign` and `sign_type`, values
///   URL-decoded, empty values kept, sorted, joined the same way;
/// - a **gateway response**: the raw bytes of the `…_response` object, exactly as sent
///   (`AlipayResponseEnvelope`).
public enum AlipaySignature {
    public static func requestContent(_ parameters: [String: String]) -> String {
        joined(parameters.filter { $0.key != "sign" && !$0.value.isEmpty })
    }

    public static func notifyContent(_ fields: [String: String]) -> String {
        joined(fields.filter { $0.key != "sign" && $0.key != "sign_type" })
    }

    public static func signRequest(_ parameters: [String: String], with key: RSASigningKey) -> String {
        key.sign(requestContent(parameters))
    }

    /// Whether a notification's `sign` is Alipay's signature of its other fields.
    public static func verifyNotify(_ fields: [String: String], with key: RSAVerifyingKey) -> Bool {
        guard let sign = fields["sign"], fields["sign_type"] == "RSA2" else { return false }
        return key.isValid(signature: sign, for: notifyContent(fields))
    }

    /// Names sorted by their bytes (ASCII order for the ASCII names Alipay uses).
    static func joined(_ parameters: [String: String]) -> String {
        parameters.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            .map { "\($0)=\(parameters[$0]!)" }
            .joined(separator: "&")
    }
}

/// Why an Alipay gateway response could not be used. None of these is an answer about the trade:
/// the call's outcome is unknown and is retried or queried.
public enum AlipayResponseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Not the JSON object the gateway sends (cut short, a proxy's page, …).
    case malformed(String)
    /// `error_response` instead of the method's node: the gateway refused the call itself
    /// (unsigned; never taken as a decision).
    case gatewayError(code: String, subCode: String?)
    /// No `sign`, or a signature that is not Alipay's over the node's raw bytes.
    case badSignature

    public var description: String {
        switch self {
        case .malformed(let why): "malformed Alipay response: \(why)"
        case .gatewayError(let code, let subCode): "Alipay gateway error \(code)\(subCode.map { " \($0)" } ?? "")"
        case .badSignature: "the Alipay response's signature does not verify"
        }
    }
}

/// A gateway response split into its top-level members, each kept as the exact bytes sent, so
/// that the signature is checked over what Alipay signed and not over a re-serialisation.
public struct AlipayResponseEnvelope: Sendable {
    public let members: [String: Data]

    public init(_ raw: Data) throws(AlipayResponseError) {
        members = try TopLevelJSON.members(raw)
    }

    /// The node `alipay.trade.query` answers in: `alipay_trade_query_response`.
    public static func nodeName(method: String) -> String { method.replacingOccurrences(of: ".", with: "_") + "_response" }

    /// The method's node, once its signature is checked with Alipay's public key; decode it with
    /// `JSONDecoder`.
    public func verifiedNode(method: String, key: RSAVerifyingKey) throws(AlipayResponseError) -> Data {
        guard let node = members[Self.nodeName(method: method)] else {
            if let error = members["error_response"],
               let fields = try? JSONDecoder().decode(AlipayResult.self, from: error) {
                throw .gatewayError(code: fields.code, subCode: fields.subCode)
            }
            throw .malformed("no \(Self.nodeName(method: method)) member")
        }
        guard node.first == UInt8(ascii: "{") else { throw .malformed("the response node is not an object") }
        guard let signValue = members["sign"], let sign = try? JSONDecoder().decode(String.self, from: signValue),
              key.isValid(signature: sign, for: node) else {
            throw .badSignature
        }
        return node
    }

    /// A signed response, as a simulator (or Alipay) writes it: the node first, then `sign`.
    public static func signed(method: String, node: Data, key: RSASigningKey) -> Data {
        var out = Data("{\"\(nodeName(method: method))\":".utf8)
        out.append(node)
        out.append(Data(",\"sign\":\"\(key.sign(node))\"}".utf8))
        return out
    }
}

/// The fields every gateway answer has (`code` 10000 is success; 20000 is "unavailable, try
/// again"; 40004 is a business failure named by `sub_code`).
public struct AlipayResult: Sendable, Codable, Equatable {
    public var code: String
    public var msg: String?
    public var subCode: String?
    public var subMsg: String?

    public init(code: String, msg: String? = nil, subCode: String? = nil, subMsg: String? = nil) {
        self.code = code
        self.msg = msg
        self.subCode = subCode
        self.subMsg = subMsg
    }

    enum CodingKeys: String, CodingKey {
        case code, msg
        case subCode = "sub_code"
        case subMsg = "sub_msg"
    }

    public static let success = "10000"
    public static let unavailable = "20000"
    public static let businessFailure = "40004"
}

/// Reads the top level of a JSON object into member name → raw value bytes, with a quote- and
/// escape-aware scan (no re-serialisation). A member named twice is refused.
enum TopLevelJSON {
    static func members(_ raw: Data) throws(AlipayResponseError) -> [String: Data] {
        let bytes = [UInt8](raw)
        var index = 0
        func skipSpace() {
            while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
        }
        func expect(_ byte: UInt8) throws(AlipayResponseError) {
            skipSpace()
            guard index < bytes.count, bytes[index] == byte else {
                throw .malformed("expected '\(Character(Unicode.Scalar(byte)))' at byte \(index)")
            }
            index += 1
        }
        /// The end (exclusive) of the string that starts at `start` (its opening quote).
        func stringEnd(_ start: Int) throws(AlipayResponseError) -> Int {
            var at = start + 1
            while at < bytes.count {
                switch bytes[at] {
                case UInt8(ascii: "\\"): at += 2
                case UInt8(ascii: "\""): return at + 1
                default: at += 1
                }
            }
            throw .malformed("a string is not closed")
        }
        func valueEnd(_ start: Int) throws(AlipayResponseError) -> Int {
            guard start < bytes.count else { throw .malformed("a value is missing") }
            switch bytes[start] {
            case UInt8(ascii: "\""):
                return try stringEnd(start)
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                var depth = 0
                var at = start
                while at < bytes.count {
                    switch bytes[at] {
                    case UInt8(ascii: "\""): at = try stringEnd(at); continue
                    case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                    case UInt8(ascii: "}"), UInt8(ascii: "]"):
                        depth -= 1
                        if depth == 0 { return at + 1 }
                    default: break
                    }
                    at += 1
                }
                throw .malformed("an object is not closed")
            default:
                var at = start
                while at < bytes.count, ![UInt8(ascii: ","), UInt8(ascii: "}"), 0x20, 0x09, 0x0A, 0x0D].contains(bytes[at]) { at += 1 }
                guard at > start else { throw .malformed("a value is missing") }
                return at
            }
        }

        var members: [String: Data] = [:]
        try expect(UInt8(ascii: "{"))
        skipSpace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") { return members }
        while true {
            skipSpace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw .malformed("expected a member name") }
            let nameEnd = try stringEnd(index)
            guard let name = try? JSONDecoder().decode(String.self, from: Data(bytes[index..<nameEnd])) else {
                throw .malformed("a member name is not a JSON string")
            }
            index = nameEnd
            try expect(UInt8(ascii: ":"))
            skipSpace()
            let end = try valueEnd(index)
            guard members.updateValue(Data(bytes[index..<end]), forKey: name) == nil else {
                throw .malformed("the member \(name.prefix(40)) appears twice")
            }
            index = end
            skipSpace()
            guard index < bytes.count else { throw .malformed("the object is not closed") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "}") { index += 1; break }
            throw .malformed("expected ',' or '}' at byte \(index)")
        }
        skipSpace()
        guard index == bytes.count else { throw .malformed("bytes after the object") }
        return members
    }
}
