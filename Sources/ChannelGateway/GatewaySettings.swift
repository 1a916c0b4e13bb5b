import Foundation
import PaystreamChannels
import PaystreamRuntime

/// The `stage:` section of channel-gateway's YAML file (Config/README.md). Checked strictly: an
/// unknown key or a bad value is a configuration error (exit 2). Keys, certificates and the
/// APIv3 key are never here: they are files in the credentials folder (systemd `LoadCredential=`).
public struct GatewaySettings: Decodable, Sendable {
    /// Where channels' notifications are received (plain HTTP; TLS is terminated in front).
    public var listen = "127.0.0.1:8090"
    /// The largest notification body accepted (413 above it).
    public var maxBodyBytes = 64 * 1024
    /// A connection that sends nothing for this long is closed.
    public var idleTimeoutMs = 10_000
    /// Where the key files are; "" = `$CREDENTIALS_DIRECTORY`.
    public var credentialsDirectory = ""
    /// The start of every `out_trade_no` / `out_request_no` / `out_refund_no` we make: letters
    /// and digits, 1–3 of them (to tell environments sharing one merchant account apart).
    public var outNoPrefix = "PS"
    /// How long one call may take, connect to last byte.
    public var callTimeoutMs = 10_000
    /// The delays before a call whose outcome was unknown is made again (the last repeats).
    public var retryDelaysMs = [1_000, 2_000, 5_000, 10_000, 30_000, 60_000]
    /// An open trade is queried this long after it was created, and again as long as it stays
    /// open (WeChat Pay notifies only successes; declines are learned by query).
    public var pollAfterMs = 30_000
    /// Calls on their way at once, per process.
    public var maxCallsInFlight = 32
    /// How often each shard looks for calls that are due and answers to send.
    public var tickIntervalMs = 50
    public var alipay: AlipaySettings?
    public var weChatPay: WeChatPaySettings?
    /// The answer keys (`AnswerSeal`), one per method answered; by default in the credentials folder.
    public var answers = AnswerSettings()

    public init() {}

    public struct AlipaySettings: Decodable, Sendable {
        /// The payment methods (`method` of `channel-request/v1`) this connector answers.
        public var methods = ["alipay"]
        public var gatewayURL = "https://openapi.alipay.com/gateway.do"
        public var appId = ""
        public var notifyURL = ""
        public var unpaidTimeoutMinutes = 15

        enum CodingKeys: String, CodingKey, CaseIterable {
            case methods, gatewayURL = "gateway_url", appId = "app_id", notifyURL = "notify_url", unpaidTimeoutMinutes = "unpaid_timeout_minutes"
        }

        public init() {}

        public init(from decoder: any Decoder) throws {
            try rejectUnknownKeys(decoder, known: CodingKeys.allCases.map(\.rawValue))
            let c = try decoder.container(keyedBy: CodingKeys.self)
            methods = try c.decodeIfPresent([String].self, forKey: .methods) ?? methods
            gatewayURL = try c.decodeIfPresent(String.self, forKey: .gatewayURL) ?? gatewayURL
            appId = try c.decodeIfPresent(String.self, forKey: .appId) ?? appId
            notifyURL = try c.decodeIfPresent(String.self, forKey: .notifyURL) ?? notifyURL
            unpaidTimeoutMinutes = try c.decodeIfPresent(Int.self, forKey: .unpaidTimeoutMinutes) ?? unpaidTimeoutMinutes
            guard !appId.isEmpty else { throw DecodingError.dataCorruptedError(forKey: .appId, in: c, debugDescription: "required") }
            guard notifyURL.hasPrefix("http") else {
                throw DecodingError.dataCorruptedError(forKey: .notifyURL, in: c, debugDescription: "the public URL Alipay notifies (https://…/alipay/notify)")
            }
            guard gatewayURL.hasPrefix("http") else { throw DecodingError.dataCorruptedError(forKey: .gatewayURL, in: c, debugDescription: "a URL") }
            guard (1...1440).contains(unpaidTimeoutMinutes) else {
                throw DecodingError.dataCorruptedError(forKey: .unpaidTimeoutMinutes, in: c, debugDescription: "1 to 1440 minutes")
            }
            guard !methods.isEmpty else { throw DecodingError.dataCorruptedError(forKey: .methods, in: c, debugDescription: "at least one method") }
        }
    }

    public struct WeChatPaySettings: Decodable, Sendable {
        public var methods = ["wechat_pay"]
        public var baseURL = "https://api.mch.weixin.qq.com"
        public var mchid = ""
        public var appid = ""
        public var notifyURL = ""
        /// The merchant API certificate's serial (`serial_no` of our requests).
        public var merchantSerial = ""
        /// The WeChat Pay public key's id (`PUB_KEY_ID_…`), whose key is the credential file
        /// `wechatpay-public-key`; "" when only platform certificates are used.
        public var publicKeyId = ""

        enum CodingKeys: String, CodingKey, CaseIterable {
            case methods, baseURL = "base_url", mchid, appid, notifyURL = "notify_url", merchantSerial = "merchant_serial"
            case publicKeyId = "public_key_id"
        }

        public init() {}

        public init(from decoder: any Decoder) throws {
            try rejectUnknownKeys(decoder, known: CodingKeys.allCases.map(\.rawValue))
            let c = try decoder.container(keyedBy: CodingKeys.self)
            methods = try c.decodeIfPresent([String].self, forKey: .methods) ?? methods
            baseURL = try c.decodeIfPresent(String.self, forKey: .baseURL) ?? baseURL
            mchid = try c.decodeIfPresent(String.self, forKey: .mchid) ?? mchid
            appid = try c.decodeIfPresent(String.self, forKey: .appid) ?? appid
            notifyURL = try c.decodeIfPresent(String.self, forKey: .notifyURL) ?? notifyURL
            merchantSerial = try c.decodeIfPresent(String.self, forKey: .merchantSerial) ?? merchantSerial
            publicKeyId = try c.decodeIfPresent(String.self, forKey: .publicKeyId) ?? publicKeyId
            for (key, value) in [(CodingKeys.mchid, mchid), (.appid, appid), (.merchantSerial, merchantSerial)] where value.isEmpty {
                throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "required")
            }
            guard notifyURL.hasPrefix("http"), !notifyURL.contains("?") else {
                throw DecodingError.dataCorruptedError(forKey: .notifyURL, in: c, debugDescription: "the public URL WeChat Pay notifies, without a query string")
            }
            guard baseURL.hasPrefix("http"), !baseURL.hasSuffix("/") else {
                throw DecodingError.dataCorruptedError(forKey: .baseURL, in: c, debugDescription: "a URL without a trailing /")
            }
            guard !methods.isEmpty else { throw DecodingError.dataCorruptedError(forKey: .methods, in: c, debugDescription: "at least one method") }
        }
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case listen, maxBodyBytes = "max_body_bytes", idleTimeoutMs = "idle_timeout_ms", credentialsDirectory = "credentials_directory"
        case outNoPrefix = "out_no_prefix", callTimeoutMs = "call_timeout_ms", retryDelaysMs = "retry_delays_ms"
        case pollAfterMs = "poll_after_ms", maxCallsInFlight = "max_calls_in_flight", tickIntervalMs = "tick_interval_ms"
        case alipay, weChatPay = "wechat_pay", answers
    }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, known: CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        listen = try c.decodeIfPresent(String.self, forKey: .listen) ?? listen
        maxBodyBytes = try c.decodeIfPresent(Int.self, forKey: .maxBodyBytes) ?? maxBodyBytes
        idleTimeoutMs = try c.decodeIfPresent(Int.self, forKey: .idleTimeoutMs) ?? idleTimeoutMs
        credentialsDirectory = try c.decodeIfPresent(String.self, forKey: .credentialsDirectory) ?? credentialsDirectory
        outNoPrefix = try c.decodeIfPresent(String.self, forKey: .outNoPrefix) ?? outNoPrefix
        callTimeoutMs = try c.decodeIfPresent(Int.self, forKey: .callTimeoutMs) ?? callTimeoutMs
        retryDelaysMs = try c.decodeIfPresent([Int].self, forKey: .retryDelaysMs) ?? retryDelaysMs
        pollAfterMs = try c.decodeIfPresent(Int.self, forKey: .pollAfterMs) ?? pollAfterMs
        maxCallsInFlight = try c.decodeIfPresent(Int.self, forKey: .maxCallsInFlight) ?? maxCallsInFlight
        tickIntervalMs = try c.decodeIfPresent(Int.self, forKey: .tickIntervalMs) ?? tickIntervalMs
        alipay = try c.decodeIfPresent(AlipaySettings.self, forKey: .alipay)
        weChatPay = try c.decodeIfPresent(WeChatPaySettings.self, forKey: .weChatPay)
        answers = try c.decodeIfPresent(AnswerSettings.self, forKey: .answers) ?? answers
        func refuse(_ key: CodingKeys, _ why: String) -> DecodingError { .dataCorruptedError(forKey: key, in: c, debugDescription: why) }
        guard maxBodyBytes >= 1024 else { throw refuse(.maxBodyBytes, "at least 1024") }
        guard idleTimeoutMs > 0, callTimeoutMs > 0, pollAfterMs > 0, tickIntervalMs > 0 else {
            throw refuse(.callTimeoutMs, "idle_timeout_ms, call_timeout_ms, poll_after_ms and tick_interval_ms are above 0")
        }
        guard (1...3).contains(outNoPrefix.count), outNoPrefix.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
            throw refuse(.outNoPrefix, "1 to 3 ASCII letters or digits")
        }
        guard !retryDelaysMs.isEmpty, retryDelaysMs.allSatisfy({ $0 > 0 }) else { throw refuse(.retryDelaysMs, "at least one delay, each above 0") }
        guard maxCallsInFlight > 0 else { throw refuse(.maxCallsInFlight, "above 0") }
        guard alipay != nil || weChatPay != nil else { throw refuse(.alipay, "configure alipay:, wechat_pay: or both") }
        let methods = (alipay?.methods ?? []) + (weChatPay?.methods ?? [])
        guard Set(methods).count == methods.count else { throw refuse(.weChatPay, "a method is answered by one channel only") }
    }

    /// The credentials folder in effect: the setting, else `$CREDENTIALS_DIRECTORY`.
    public func credentialsFolder(environment: [String: String]) -> String? {
        if !credentialsDirectory.isEmpty { return credentialsDirectory }
        return environment["CREDENTIALS_DIRECTORY"].flatMap { $0.isEmpty ? nil : $0 }
    }

    func delay(afterAttempt attempt: Int) -> Int64 { Int64(retryDelaysMs[min(max(attempt - 1, 0), retryDelaysMs.count - 1)]) }
}

/// The key files a connector needs, read from the credentials folder at start. A missing or
/// unreadable file stops the daemon with its name (never its content). Each is looked for as
/// systemd names a file of a loaded folder (`LoadCredential=channels:/etc/paystream/channels`
/// gives `channels_<file>`), then under its own name.
public enum GatewayCredentials {
    static let systemdPrefix = "channels_"

    /// The keys the gateway seals its answers with (`answers_<method>`, next to the channel keys
    /// unless `answers.credentials_directory` says otherwise); every method answered needs one.
    public static func answerKeys(_ settings: GatewaySettings, environment: [String: String]) throws -> AnswerKeyring? {
        var environment = environment
        if let folder = settings.credentialsFolder(environment: environment) { environment["CREDENTIALS_DIRECTORY"] = folder }
        return try AnswerKeyring.signing(settings.answers, signers: ChannelGatewayStage.signers(settings), environment: environment,
                                         daemon: "channel-gateway")
    }

    static func read(_ name: String, folder: String) throws -> String {
        for candidate in [systemdPrefix + name, name] {
            let path = (folder as NSString).appendingPathComponent(candidate)
            if let text = try? String(contentsOfFile: path, encoding: .utf8) {
                return text.trimmingCharacters(in: .whitespacesAndNewlines)
            }
        }
        throw ConfigurationError("credential \(name): cannot read \(systemdPrefix)\(name) or \(name) in \(folder)")
    }

    static func key<T>(_ name: String, folder: String, _ make: (String) throws(ChannelKeyError) -> T) throws -> T {
        do {
            return try make(try read(name, folder: folder))
        } catch let error as ChannelKeyError {
            throw ConfigurationError("credential \(name): \(error.description)")
        }
    }

    /// The connectors the settings ask for, with their keys.
    public static func connectors(_ settings: GatewaySettings, environment: [String: String],
                                  clock: @escaping @Sendable () -> Date = { Date() }) throws -> [any ChannelConnector] {
        guard let folder = settings.credentialsFolder(environment: environment) else {
            throw ConfigurationError("no credentials folder: set stage.credentials_directory or run under systemd with LoadCredential= ($CREDENTIALS_DIRECTORY)")
        }
        let timeout = Duration.milliseconds(settings.callTimeoutMs)
        var connectors: [any ChannelConnector] = []
        if let alipay = settings.alipay {
            connectors.append(AlipayConnector(configuration: AlipayConfiguration(
                gatewayURL: alipay.gatewayURL, appId: alipay.appId, notifyURL: alipay.notifyURL,
                appKey: try key("alipay-app-private-key", folder: folder) { text throws(ChannelKeyError) in try RSASigningKey(text: text) },
                alipayKey: try key("alipay-public-key", folder: folder) { text throws(ChannelKeyError) in try RSAVerifyingKey(text: text) },
                timeout: timeout, unpaidTimeoutMinutes: alipay.unpaidTimeoutMinutes), clock: clock))
        }
        if let weChat = settings.weChatPay {
            var keys: [String: RSAVerifyingKey] = [:]
            if !weChat.publicKeyId.isEmpty {
                keys[weChat.publicKeyId] = try key("wechatpay-public-key", folder: folder) { text throws(ChannelKeyError) in try RSAVerifyingKey(text: text) }
            }
            // Platform certificates: every wechatpay-platform-*.pem, by its own serial.
            let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            for name in names.sorted() where name.hasPrefix("wechatpay-platform-") || name.hasPrefix(systemdPrefix + "wechatpay-platform-") {
                let plain = name.hasPrefix(systemdPrefix) ? String(name.dropFirst(systemdPrefix.count)) : name
                let certificate = try key(plain, folder: folder) { text throws(ChannelKeyError) in try RSACertificate(pem: text) }
                keys[certificate.serial] = certificate.key
            }
            guard !keys.isEmpty else {
                throw ConfigurationError("wechat_pay: no WeChat Pay key (set public_key_id with the credential wechatpay-public-key, or add wechatpay-platform-<serial>.pem certificates)")
            }
            let apiV3Key = try read("wechatpay-apiv3-key", folder: folder)
            guard apiV3Key.utf8.count == 32 else { throw ConfigurationError("credential wechatpay-apiv3-key: the APIv3 key is 32 characters") }
            connectors.append(WeChatPayConnector(configuration: WeChatPayConfiguration(
                baseURL: weChat.baseURL, mchid: weChat.mchid, appid: weChat.appid, notifyURL: weChat.notifyURL,
                merchantSerial: weChat.merchantSerial,
                merchantKey: try key("wechatpay-merchant-private-key", folder: folder) { text throws(ChannelKeyError) in try RSASigningKey(text: text) },
                verifier: WeChatPayVerifier(keys: keys), cipher: try WeChatPayCipher(apiV3Key: apiV3Key), timeout: timeout), clock: clock))
        }
        return connectors
    }
}
