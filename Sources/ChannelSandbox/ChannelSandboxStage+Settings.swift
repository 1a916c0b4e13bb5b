import PaystreamDomain
import PaystreamRuntime

extension ChannelSandboxStage {
    /// The `stage:` section of channel-sandbox's YAML file. Decoding checks every key and value:
    /// an unknown key or a value out of range is a `DecodingError` naming its path, which the
    /// daemon reports as a configuration error (exit 2). The defaults answer every instruction at
    /// once and decline nothing.
    public struct Settings: Decodable, Sendable {
        /// Seed of every draw (`SandboxDraws`): the same seed gives the same decisions.
        public var seed: UInt64
        /// How often due answers are sent and statement files rewritten.
        public var tickInterval: Duration
        /// Where statement files go; relative paths start from the state directory; "" writes none.
        public var statementDirectory: String
        /// How long a changed statement file may wait before it is rewritten (at most one
        /// rewrite per file per interval, on the worker's clock).
        public var statementInterval: Duration
        /// The `default` entry: how a method without its own entry behaves.
        public var defaultProfile: MethodProfile
        /// Entries of the methods configured on their own, each on top of `default`.
        public var profiles: [String: MethodProfile]
        /// How the settlement bank pays payouts (`bank:`).
        public var bank: BankProfile = BankProfile()
        /// Methods another daemon answers (the channel gateway, for alipay and wechat_pay): their
        /// instructions are read and left alone here.
        public var skipMethods: Set<String> = []
        /// The answer keys the sandbox seals with (`AnswerSeal`): one per method it answers, and the bank's.
        public var answers = AnswerSettings()

        public init(seed: UInt64 = 1, tickInterval: Duration = .milliseconds(20),
                    statementDirectory: String = "channel-statements", statementInterval: Duration = .seconds(1),
                    defaultProfile: MethodProfile = MethodProfile(), profiles: [String: MethodProfile] = [:]) {
            self.seed = seed
            self.tickInterval = tickInterval
            self.statementDirectory = statementDirectory
            self.statementInterval = statementInterval
            self.defaultProfile = defaultProfile
            self.profiles = profiles
        }

        public func profile(for method: String) -> MethodProfile { profiles[method] ?? defaultProfile }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case seed, tickIntervalMs = "tick_interval_ms", statementDir = "statement_dir"
            case statementIntervalMs = "statement_interval_ms", methods, bank, skipMethods = "skip_methods", answers
        }

        public init(from decoder: any Decoder) throws {
            try rejectUnknownKeys(decoder, known: CodingKeys.allCases.map(\.rawValue), hints: [
                "decline_rate": "per-method settings moved under methods: (methods.default.decline_rate)",
                "default": "method entries go under methods:", "card": "method entries go under methods:",
            ])
            let c = try decoder.container(keyedBy: CodingKeys.self)
            self.init()
            seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? seed
            if let ms = try c.decodeIfPresent(Int.self, forKey: .tickIntervalMs) {
                guard ms > 0 else { throw DecodingError.dataCorruptedError(forKey: .tickIntervalMs, in: c, debugDescription: "must be > 0 ms") }
                tickInterval = .milliseconds(ms)
            }
            statementDirectory = try c.decodeIfPresent(String.self, forKey: .statementDir) ?? statementDirectory
            if let ms = try c.decodeIfPresent(Int.self, forKey: .statementIntervalMs) {
                guard ms >= 0 else { throw DecodingError.dataCorruptedError(forKey: .statementIntervalMs, in: c, debugDescription: "must be ≥ 0 ms") }
                statementInterval = .milliseconds(ms)
            }

            bank = try c.decodeIfPresent(BankEntry.self, forKey: .bank)?.profile ?? bank
            answers = try c.decodeIfPresent(AnswerSettings.self, forKey: .answers) ?? answers
            let skipped = try c.decodeIfPresent([String].self, forKey: .skipMethods) ?? []
            for method in skipped where !ChannelSandboxStage.channelMethods.contains(method) {
                throw DecodingError.dataCorruptedError(forKey: .skipMethods, in: c,
                                                       debugDescription: "unknown method '\(method)'; known: \(ChannelSandboxStage.channelMethods.joined(separator: ", "))")
            }
            skipMethods = Set(skipped)
            guard c.contains(.methods) else { return }
            let methods = try c.nestedContainer(keyedBy: AnyCodingKey.self, forKey: .methods)
            for key in methods.allKeys where key.stringValue != "default" && !ChannelSandboxStage.channelMethods.contains(key.stringValue) {
                let why = key.stringValue == "wallet"
                    ? "wallet payments never reach a channel (the sandbox dead-letters them); remove the entry"
                    : "unknown method; known: default, \(ChannelSandboxStage.channelMethods.joined(separator: ", "))"
                throw DecodingError.dataCorrupted(.init(codingPath: methods.codingPath + [key], debugDescription: why))
            }
            let defaultKey = AnyCodingKey("default")
            if let entry = try methods.decodeIfPresent(MethodEntry.self, forKey: defaultKey) {
                defaultProfile = try entry.applied(to: defaultProfile, path: methods.codingPath + [defaultKey])
            }
            for method in ChannelSandboxStage.channelMethods {
                let key = AnyCodingKey(method)
                if let entry = try methods.decodeIfPresent(MethodEntry.self, forKey: key) {
                    profiles[method] = try entry.applied(to: defaultProfile, path: methods.codingPath + [key])
                }
            }
        }
    }

    /// One entry under `methods:` as written: each key optional, checked on its own; `applied`
    /// lays it over the profile it inherits from.
    struct MethodEntry: Decodable {
        var latency: LatencyDistribution?
        var declineRate: Double?
        var declineReasons: ReasonWeights?
        var noAnswerRate: Double?
        var queryNoAnswerRate: Double?
        var duplicateRate: Double?
        var duplicateDelayMs: Int?
        var reorderRate: Double?
        var reorderDelayMs: Int?
        var amountMismatchRate: Double?
        var refundDeclineRate: Double?
        var refundDeclineReasons: ReasonWeights?
        var feeBasisPoints: Int64?
        var feeFixed: Int64?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case latencyMs = "latency_ms", declineRate = "decline_rate", declineReasons = "decline_reasons"
            case noAnswerRate = "no_answer_rate", queryNoAnswerRate = "query_no_answer_rate"
            case duplicateRate = "duplicate_rate", duplicateDelayMs = "duplicate_delay_ms"
            case reorderRate = "reorder_rate", reorderDelayMs = "reorder_delay_ms"
            case amountMismatchRate = "amount_mismatch_rate", refundDeclineRate = "refund_decline_rate"
            case refundDeclineReasons = "refund_decline_reasons", feeBasisPoints = "fee_basis_points", feeFixed = "fee_fixed"
        }

        init(from decoder: any Decoder) throws {
            try rejectUnknownKeys(decoder, known: CodingKeys.allCases.map(\.rawValue))
            let c = try decoder.container(keyedBy: CodingKeys.self)
            func rate(_ key: CodingKeys) throws -> Double? {
                guard let value = try c.decodeIfPresent(Double.self, forKey: key) else { return nil }
                guard value.isFinite, (0...1).contains(value) else {
                    throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "must be a share between 0 and 1, is \(value)")
                }
                return value
            }
            func milliseconds(_ key: CodingKeys) throws -> Int? {
                guard let value = try c.decodeIfPresent(Int.self, forKey: key) else { return nil }
                guard value >= 0 else { throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "must be ≥ 0 ms, is \(value)") }
                return value
            }
            func reasons(_ key: CodingKeys) throws -> ReasonWeights? {
                guard let weights = try c.decodeIfPresent([String: Double].self, forKey: key) else { return nil }
                do { return try ReasonWeights(weights) } catch {
                    throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "\(error) (a map of reason code → weight)")
                }
            }
            latency = try decodeLatency(c, key: .latencyMs)
            declineRate = try rate(.declineRate)
            declineReasons = try reasons(.declineReasons)
            noAnswerRate = try rate(.noAnswerRate)
            queryNoAnswerRate = try rate(.queryNoAnswerRate)
            duplicateRate = try rate(.duplicateRate)
            duplicateDelayMs = try milliseconds(.duplicateDelayMs)
            reorderRate = try rate(.reorderRate)
            reorderDelayMs = try milliseconds(.reorderDelayMs)
            amountMismatchRate = try rate(.amountMismatchRate)
            refundDeclineRate = try rate(.refundDeclineRate)
            refundDeclineReasons = try reasons(.refundDeclineReasons)
            feeBasisPoints = try c.decodeIfPresent(Int64.self, forKey: .feeBasisPoints)
            if let bps = feeBasisPoints, !(0...10_000).contains(bps) {
                throw DecodingError.dataCorruptedError(forKey: .feeBasisPoints, in: c, debugDescription: "must be 0…10000 basis points, is \(bps)")
            }
            feeFixed = try c.decodeIfPresent(Int64.self, forKey: .feeFixed)
            if let fixed = feeFixed, fixed < 0 {
                throw DecodingError.dataCorruptedError(forKey: .feeFixed, in: c, debugDescription: "must be ≥ 0 minor units, is \(fixed)")
            }
        }

        func applied(to base: MethodProfile, path: [any CodingKey]) throws -> MethodProfile {
            var profile = base
            profile.latency = latency ?? base.latency
            profile.declineRate = declineRate ?? base.declineRate
            profile.declineReasons = declineReasons ?? base.declineReasons
            profile.noAnswerRate = noAnswerRate ?? base.noAnswerRate
            profile.queryNoAnswerRate = queryNoAnswerRate ?? base.queryNoAnswerRate
            profile.duplicateRate = duplicateRate ?? base.duplicateRate
            profile.duplicateDelayMs = duplicateDelayMs ?? base.duplicateDelayMs
            profile.reorderRate = reorderRate ?? base.reorderRate
            profile.reorderDelayMs = reorderDelayMs ?? base.reorderDelayMs
            profile.amountMismatchRate = amountMismatchRate ?? base.amountMismatchRate
            profile.refundDeclineRate = refundDeclineRate ?? base.refundDeclineRate
            profile.refundDeclineReasons = refundDeclineReasons ?? base.refundDeclineReasons
            do {
                profile.feePlan = try FeePlan(basisPoints: feeBasisPoints ?? base.feePlan.basisPoints,
                                              fixed: feeFixed ?? base.feePlan.fixed)
            } catch {
                throw DecodingError.dataCorrupted(.init(codingPath: path, debugDescription: "\(error)"))
            }
            return profile
        }
    }
}
