import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 or IPv6 address, as the resolver gave it.
public enum IPAddress: Sendable, Hashable, CustomStringConvertible {
    case v4(UInt32)
    case v6([UInt8])

    /// Only the canonical text forms (`inet_pton`): four decimal numbers, or IPv6 without a zone.
    public init?(_ text: String) {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            self = .v4(UInt32(bigEndian: v4.s_addr))
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            self = .v6(withUnsafeBytes(of: v6) { Array($0) })
            return
        }
        return nil
    }

    public var description: String {
        switch self {
        case .v4(let value):
            return "\(value >> 24).\((value >> 16) & 0xFF).\((value >> 8) & 0xFF).\(value & 0xFF)"
        case .v6(let bytes):
            var address = in6_addr()
            withUnsafeMutableBytes(of: &address) { $0.copyBytes(from: bytes) }
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            _ = inet_ntop(AF_INET6, &address, &text, socklen_t(text.count))
            return String(cString: text)
        }
    }

    var bits: [UInt8] {
        switch self {
        case .v4(let value): return [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
        case .v6(let bytes): return bytes
        }
    }

    /// The IPv4 address an IPv6 one carries where it stands for it: IPv4-mapped (`::ffff:a.b.c.d`),
    /// IPv4-compatible (`::a.b.c.d`), NAT64 (`64:ff9b::/96`) and 6to4 (`2002:AABB:CCDD::/48`).
    var embeddedV4: UInt32? {
        guard case .v6(let b) = self else { return nil }
        func v4(at i: Int) -> UInt32 { UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3]) }
        if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xFF && b[11] == 0xFF { return v4(at: 12) }
        if b[0..<12].allSatisfy({ $0 == 0 }) && !(b[12...].allSatisfy { $0 == 0 }) && !(b[12..<15].allSatisfy { $0 == 0 } && b[15] == 1) {
            return v4(at: 12)
        }
        if b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xFF && b[3] == 0x9B && b[4..<12].allSatisfy({ $0 == 0 }) { return v4(at: 12) }
        if b[0] == 0x20 && b[1] == 0x02 { return v4(at: 2) }
        return nil
    }

    /// Why this address is not a public unicast address, or nil when it is one. An IPv6 address
    /// carrying an IPv4 one is judged by the IPv4 address it carries.
    public var nonPublicReason: String? {
        if let v4 = embeddedV4 { return IPAddress.v4(v4).nonPublicReason.map { "\($0) (carried in IPv6)" } }
        for (range, reason) in IPRange.nonPublic where range.contains(self) { return reason }
        if case .v6(let b) = self, b[0] & 0xE0 != 0x20 { return "not global unicast IPv6 (outside 2000::/3)" }
        return nil
    }
}

/// An address range in CIDR notation (`10.0.0.0/8`, `fd00::/8`); a bare address is the range of it alone.
public struct IPRange: Sendable, Hashable, CustomStringConvertible {
    public let address: IPAddress
    public let prefixLength: Int

    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let address = IPAddress(String(parts[0])) else { return nil }
        let width = address.bits.count * 8
        if parts.count == 2 {
            guard let length = Int(parts[1]), (0...width).contains(length), String(length) == parts[1] else { return nil }
            prefixLength = length
        } else {
            prefixLength = width
        }
        self.address = address
    }

    public var description: String { "\(address)/\(prefixLength)" }

    public func contains(_ other: IPAddress) -> Bool {
        let mine = address.bits, theirs = other.bits
        guard mine.count == theirs.count else { return false }
        var left = prefixLength
        for i in mine.indices where left > 0 {
            let take = min(8, left)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - take))
            if mine[i] & mask != theirs[i] & mask { return false }
            left -= take
        }
        return true
    }

    /// The special-purpose ranges (RFC 6890 and its updates) that are not public destinations.
    static let nonPublic: [(IPRange, String)] = [
        ("0.0.0.0/8", "'this network' (0.0.0.0/8)"), ("10.0.0.0/8", "private (10.0.0.0/8)"),
        ("100.64.0.0/10", "shared carrier-grade NAT (100.64.0.0/10)"), ("127.0.0.0/8", "loopback (127.0.0.0/8)"),
        ("169.254.0.0/16", "link-local, cloud metadata (169.254.0.0/16)"), ("172.16.0.0/12", "private (172.16.0.0/12)"),
        ("192.0.0.0/24", "IETF protocol assignments (192.0.0.0/24)"), ("192.0.2.0/24", "documentation (192.0.2.0/24)"),
        ("192.88.99.0/24", "6to4 relay anycast (192.88.99.0/24)"), ("192.168.0.0/16", "private (192.168.0.0/16)"),
        ("198.18.0.0/15", "benchmarking (198.18.0.0/15)"), ("198.51.100.0/24", "documentation (198.51.100.0/24)"),
        ("203.0.113.0/24", "documentation (203.0.113.0/24)"), ("224.0.0.0/4", "multicast (224.0.0.0/4)"),
        ("240.0.0.0/4", "reserved or broadcast (240.0.0.0/4)"),
        ("::/128", "unspecified (::)"), ("::1/128", "loopback (::1)"), ("100::/64", "discard-only (100::/64)"),
        ("2001::/23", "IETF protocol assignments, Teredo (2001::/23)"), ("2001:db8::/32", "documentation (2001:db8::/32)"),
        ("fc00::/7", "unique local (fc00::/7)"), ("fe80::/10", "link-local (fe80::/10)"), ("fec0::/10", "site-local (fec0::/10)"),
        ("ff00::/8", "multicast (ff00::/8)"),
    ].map { (IPRange($0.0)!, $0.1) }
}

/// Where the notifier may send a webhook: by default https to public addresses only. `allow`
/// (the notifier's `stage.webhooks.allow`) names address ranges that may be reached anyway, over
/// http or https — a receiver on the operator's own network, or loopback in tests and local runs.
///
/// A URL is judged twice: its shape before anything is sent (scheme, no user part, a host that
/// is a name or a canonical address), then every address its host resolves to. The attempt
/// then connects to the address that was checked (pinned), never to a second resolution.
public struct WebhookAddressPolicy: Sendable, Equatable {
    public var allow: [IPRange]

    public init(allow: [IPRange] = []) { self.allow = allow }

    /// A URL's parts that the checks need.
    public struct Target: Sendable, Equatable {
        public var https: Bool
        /// Without brackets for IPv6.
        public var host: String
        /// Set when the host is written as an address.
        public var literal: IPAddress?
    }

    /// The URL's shape: nil and the target, or why it is refused.
    public func target(of url: String) -> Result<Target, WebhookRefusal> {
        guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased() else {
            return .failure(WebhookRefusal("url is not an absolute URL"))
        }
        guard scheme == "https" || scheme == "http" else { return .failure(WebhookRefusal("scheme \(scheme) is not https")) }
        guard parsed.user == nil && parsed.password == nil else {
            return .failure(WebhookRefusal("url carries a user name or password"))
        }
        guard var host = parsed.host, !host.isEmpty else { return .failure(WebhookRefusal("url has no host")) }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host.contains("%") { return .failure(WebhookRefusal("host \(host) names an interface zone")) }
        let literal = IPAddress(host)
        if literal == nil, Self.isLegacyNumericV4(host) {
            return .failure(WebhookRefusal("host \(host) is an IPv4 address in a non-canonical form (decimal, octal or hex)"))
        }
        return .success(Target(https: scheme == "https", host: host, literal: literal))
    }

    /// The addresses the host resolved to: the one to connect to, or why none may be used. Every
    /// address must pass (a name that resolves to one public and one private address is refused).
    public func pick(_ addresses: [IPAddress], for target: Target) -> Result<IPAddress, WebhookRefusal> {
        guard let first = addresses.first else { return .failure(WebhookRefusal("host \(target.host) resolved to no address")) }
        for address in addresses {
            if allow.contains(where: { $0.contains(address) }) { continue }
            if let reason = address.nonPublicReason {
                return .failure(WebhookRefusal("address \(address) of \(target.host) is \(reason), not in stage.webhooks.allow"))
            }
            if !target.https {
                return .failure(WebhookRefusal("http to \(address) of \(target.host): only https reaches addresses outside stage.webhooks.allow"))
            }
        }
        return .success(first)
    }

    /// What the C library would read as an IPv4 address though it is not four decimal numbers
    /// (`2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1`): names a resolver turns into addresses.
    static func isLegacyNumericV4(_ host: String) -> Bool {
        var address = in_addr()
        return inet_aton(host, &address) != 0
    }
}

/// Why a webhook was not sent to a URL.
public struct WebhookRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Turns a host name into addresses.
public protocol WebhookResolver: Sendable {
    func resolve(_ host: String) async throws -> [IPAddress]
}

/// The system resolver (`getaddrinfo`, so `/etc/hosts` and `nsswitch.conf` apply), on a thread of
/// its own: it blocks.
public struct SystemResolver: WebhookResolver {
    public init() {}

    public func resolve(_ host: String) async throws -> [IPAddress] {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try Self.lookup(host) })
            }
        }
    }

    static func lookup(_ host: String) throws -> [IPAddress] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &list)
        guard status == 0 else { throw WebhookRefusal("cannot resolve \(host): \(String(cString: gai_strerror(status)))") }
        defer { freeaddrinfo(list) }
        var addresses: [IPAddress] = []
        var entry = list
        while let info = entry?.pointee {
            if info.ai_family == AF_INET, let raw = info.ai_addr {
                let v4 = raw.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr.s_addr }
                addresses.append(.v4(UInt32(bigEndian: v4)))
            } else if info.ai_family == AF_INET6, let raw = info.ai_addr {
                var v6 = raw.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                addresses.append(.v6(withUnsafeBytes(of: &v6) { Array($0) }))
            }
            entry = info.ai_next
        }
        var seen = Set<IPAddress>()
        return addresses.filter { seen.insert($0).inserted }
    }
}
