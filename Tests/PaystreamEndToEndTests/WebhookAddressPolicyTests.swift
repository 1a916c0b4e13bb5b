import Foundation
import Notifier
import PaystreamRuntime
import Synchronization
import Testing

/// Where a webhook may go (issue 26, point 4): https to public addresses unless allow-listed,
/// every resolved address checked, the checked address pinned for the attempt.
@Suite("webhook address policy")
struct WebhookAddressPolicyTests {
    @Test("special-purpose addresses are not public; IPv6 forms carrying IPv4 are judged by what they carry",
          arguments: ["127.0.0.1", "127.255.0.9", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254",
                      "100.64.0.1", "0.0.0.0", "0.1.2.3", "255.255.255.255", "224.0.0.1", "240.0.0.1", "192.0.2.7", "198.18.0.1",
                      "203.0.113.9", "::", "::1", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1", "fec0::1", "2001:db8::1",
                      "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "64:ff9b::7f00:1", "2002:7f00:1::1",
                      "2001::1", "::127.0.0.1", "100::1"])
    func nonPublic(_ text: String) throws {
        let address = try #require(IPAddress(text))
        #expect(address.nonPublicReason != nil, "\(text) should not be public")
    }

    @Test("public unicast addresses pass", arguments: ["8.8.8.8", "1.1.1.1", "93.184.216.34", "172.32.0.1", "100.128.0.1",
                                                       "2606:4700:4700::1111", "2a00:1450::1", "::ffff:8.8.8.8", "64:ff9b::808:808"])
    func isPublic(_ text: String) throws {
        let address = try #require(IPAddress(text))
        #expect(address.nonPublicReason == nil, "\(text): \(address.nonPublicReason ?? "")")
    }

    @Test("ranges: CIDR parsing and membership")
    func ranges() throws {
        let range = try #require(IPRange("10.20.0.0/16"))
        #expect(range.contains(IPAddress("10.20.255.1")!))
        #expect(!range.contains(IPAddress("10.21.0.1")!))
        #expect(!range.contains(IPAddress("::ffff:10.20.0.1")!), "families do not mix")
        #expect(try #require(IPRange("fd00::/8")).contains(IPAddress("fd12::1")!))
        #expect(try #require(IPRange("127.0.0.1")).description == "127.0.0.1/32")
        for bad in ["10.0.0.0/33", "10.0.0.0/", "10.0.0/8", "fd00::/129", "example.com/8", "10.0.0.0/08", "0x7f.1"] {
            #expect(IPRange(bad) == nil, "\(bad)")
        }
    }

    @Test("URL shapes refused before any resolution", arguments: [
        ("ftp://hooks.example/x", "scheme"), ("https://user:pw@hooks.example/x", "user name"), ("/relative", "absolute"),
        ("https://2130706433/x", "non-canonical"), ("https://0x7f.1/x", "non-canonical"), ("https://0177.0.0.1/x", "non-canonical"),
        ("https://127.1/x", "non-canonical"), ("https:///x", "no host"),
    ])
    func shapes(_ url: String, _ why: String) {
        guard case .failure(let refusal) = WebhookAddressPolicy().target(of: url) else {
            Issue.record("\(url) was accepted")
            return
        }
        #expect(refusal.description.contains(why), "\(url): \(refusal)")
    }

    @Test("every resolved address must pass; http only inside the allow list")
    func picks() throws {
        let policy = WebhookAddressPolicy()
        let https = try WebhookAddressPolicy().target(of: "https://hooks.example/x").get()
        let http = try WebhookAddressPolicy().target(of: "http://hooks.example/x").get()
        let publicAddress = IPAddress("93.184.216.34")!, metadata = IPAddress("169.254.169.254")!
        #expect(try policy.pick([publicAddress], for: https).get() == publicAddress)
        guard case .failure(let mixed) = policy.pick([publicAddress, metadata], for: https) else {
            Issue.record("a name resolving to a public and a link-local address was accepted")
            return
        }
        #expect(mixed.description.contains("169.254.169.254") && mixed.description.contains("link-local"), "\(mixed)")
        guard case .failure(let plain) = policy.pick([publicAddress], for: http) else {
            Issue.record("http to a public address outside the allow list was accepted")
            return
        }
        #expect(plain.description.contains("only https"), "\(plain)")
        guard case .failure = policy.pick([], for: https) else {
            Issue.record("no address accepted")
            return
        }
        let allowing = WebhookAddressPolicy(allow: [IPRange("10.20.0.0/16")!])
        #expect(try allowing.pick([IPAddress("10.20.3.4")!], for: http).get() == IPAddress("10.20.3.4")!)
        guard case .failure = allowing.pick([IPAddress("10.21.3.4")!], for: http) else {
            Issue.record("an address outside the allowed range was accepted")
            return
        }
    }

    @Test("settings: allow is parsed as CIDR ranges, a malformed one refused")
    func settings() throws {
        let good = try JSONDecoder().decode(WebhookSettings.self, from: Data(#"{"allow": ["127.0.0.0/8", "fd00::/8"]}"#.utf8))
        #expect(good.allow == [IPRange("127.0.0.0/8")!, IPRange("fd00::/8")!])
        #expect(WebhookSettings().allow.isEmpty)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(WebhookSettings.self, from: Data(#"{"allow": ["localhost"]}"#.utf8)) }
    }

    @Test("the system resolver finds localhost's loopback address")
    func systemResolver() async throws {
        let addresses = try await SystemResolver().resolve("localhost")
        #expect(addresses.contains(IPAddress("127.0.0.1")!) || addresses.contains(IPAddress("::1")!), "\(addresses)")
    }

    /// Answers a fixed address for any name, and counts the lookups.
    final class FixedResolver: WebhookResolver {
        let address: IPAddress
        let lookups = Mutex<[String]>([])
        init(address: IPAddress) { self.address = address }
        func resolve(_ host: String) async throws -> [IPAddress] {
            lookups.withLock { $0.append(host) }
            return [address]
        }
    }

    @Test("through the sender: loopback refused by default and nothing sent; an allow-listed name is pinned to its checked address")
    func sender() async throws {
        let hits = Mutex<[HTTPRequest]>([])
        let server = try await HTTPListener.start(listen: "127.0.0.1:0") { request in
            hits.withLock { $0.append(request) }
            return .text(204, "")
        }
        let port = server.address.split(separator: ":").last!
        let secret = try WebhookSecret(WebhookSignatureTests.secret)
        func send(_ url: String, _ policy: WebhookAddressPolicy, _ resolver: any WebhookResolver = SystemResolver()) async -> WebhookAnswer {
            await WebhookSender.send(url: url, webhookID: "msg_policy", body: Data("{}".utf8), secrets: [secret], timestamp: Date(),
                                     timeout: .seconds(60), policy: policy, resolver: resolver)
        }
        // Default policy: an http URL to loopback, by address, by name and in a decimal spelling.
        for url in ["http://127.0.0.1:\(port)/hook", "https://127.0.0.1:\(port)/hook", "https://localhost:\(port)/hook",
                    "http://2130706433:\(port)/hook", "https://[::ffff:127.0.0.1]:\(port)/hook"] {
            let answer = await send(url, WebhookAddressPolicy())
            #expect(answer.status == nil && answer.error?.hasPrefix("refused:") == true, "\(url): \(answer)")
        }
        // A name that (as an attacker's DNS would) resolves to loopback: refused after resolution.
        let rebinding = FixedResolver(address: IPAddress("127.0.0.1")!)
        let refused = await send("https://hooks.merchant.example:\(port)/hook", WebhookAddressPolicy(), rebinding)
        #expect(refused.error?.contains("loopback") == true, "\(refused)")
        #expect(rebinding.lookups.withLock { $0 } == ["hooks.merchant.example"])
        #expect(hits.withLock { $0.count } == 0, "a refused attempt reached the receiver")

        // Allow-listed: the name (which no real DNS answers) is connected to the address it was
        // checked at, and the request still names the host it was addressed to.
        let allowed = await send("http://hooks.merchant.example:\(port)/hook", WebhookAddressPolicy(allow: [IPRange("127.0.0.0/8")!]),
                                 rebinding)
        #expect(allowed.status == 204, "\(allowed)")
        let received = hits.withLock { $0 }
        #expect(received.count == 1)
        #expect(received.first?.header("host") == "hooks.merchant.example:\(port)", "\(received.first?.headers ?? [:])")
        #expect(received.first?.header("webhook-id") == "msg_policy")
        await server.stop()
    }
}
