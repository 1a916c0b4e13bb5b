import Foundation
import GRDB
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaystreamLedger
import PaystreamReference
import PaystreamRuntime
import PaystreamStore

extension PaymentStage {
    public struct Settings: Decodable, Sendable {
        /// The payment policy (JSON, see Config/payment-policy.json). Required: without a
        /// policy the worker would have no limits, so it refuses to start. A relative path is
        /// resolved against the config file's folder.
        public var policyFile: String?
        /// When an unanswered authorization is queried, then expired.
        public var authorization: AuthorizationTimeouts
        /// How often the expiry timer looks for due authorizations.
        public var expiryCheckIntervalMs: Int
        /// How long a request id is remembered: a retry within it gets the original answer.
        public var idempotencyRetentionHours: Int
        /// The channels' answer keys (`AnswerSeal`): where they are, and whether answers must be sealed.
        public var answers: AnswerSettings
        /// What merchants, credit lines and FX rates on the reference topics may say (`ReferenceBounds`).
        public var referenceBounds = ReferenceBounds()

        /// The shortest idempotency window the stage accepts (PRODUCT.md: at least 7 days).
        public static let minimumRetentionHours = 168

        public init(policyFile: String? = nil, authorization: AuthorizationTimeouts = AuthorizationTimeouts(),
                    expiryCheckIntervalMs: Int = 1000, idempotencyRetentionHours: Int = 168, answers: AnswerSettings = AnswerSettings()) {
            self.policyFile = policyFile
            self.authorization = authorization
            self.expiryCheckIntervalMs = expiryCheckIntervalMs
            self.idempotencyRetentionHours = idempotencyRetentionHours
            self.answers = answers
        }

        enum CodingKeys: String, CodingKey {
            case policyFile = "policy_file", authorization, expiryCheckIntervalMs = "expiry_check_interval_ms"
            case idempotencyRetentionHours = "idempotency_retention_hours", answers, referenceBounds = "reference_bounds"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            policyFile = try c.decodeIfPresent(String.self, forKey: .policyFile)
            authorization = try c.decodeIfPresent(AuthorizationTimeouts.self, forKey: .authorization) ?? AuthorizationTimeouts()
            expiryCheckIntervalMs = try c.decodeIfPresent(Int.self, forKey: .expiryCheckIntervalMs) ?? 1000
            idempotencyRetentionHours = try c.decodeIfPresent(Int.self, forKey: .idempotencyRetentionHours) ?? 168
            answers = try c.decodeIfPresent(AnswerSettings.self, forKey: .answers) ?? AnswerSettings()
            referenceBounds = try c.decodeIfPresent(ReferenceBounds.self, forKey: .referenceBounds) ?? ReferenceBounds()
            guard (10...3_600_000).contains(expiryCheckIntervalMs) else {
                throw DecodingError.dataCorruptedError(forKey: .expiryCheckIntervalMs, in: c,
                                                       debugDescription: "must be 10 to 3600000 milliseconds, not \(expiryCheckIntervalMs)")
            }
            guard (Self.minimumRetentionHours...87_600).contains(idempotencyRetentionHours) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .idempotencyRetentionHours, in: c,
                    debugDescription: "must be \(Self.minimumRetentionHours) (7 days) to 87600 hours, not \(idempotencyRetentionHours)")
            }
        }
    }

    /// Per method: how long an authorization waits for the channel before it is queried, and
    /// how long after the query before it expires.
    public struct AuthorizationTimeouts: Decodable, Sendable, Hashable {
        public struct Timeout: Decodable, Sendable, Hashable {
            public var queryAfterSeconds: Double
            public var expireAfterSeconds: Double

            public init(queryAfterSeconds: Double, expireAfterSeconds: Double) {
                self.queryAfterSeconds = queryAfterSeconds
                self.expireAfterSeconds = expireAfterSeconds
            }

            enum CodingKeys: String, CodingKey {
                case queryAfterSeconds = "query_after_seconds", expireAfterSeconds = "expire_after_seconds"
            }
        }

        public var `default`: Timeout
        public var methods: [String: Timeout]

        public init(default: Timeout = Timeout(queryAfterSeconds: 300, expireAfterSeconds: 300), methods: [String: Timeout] = [:]) {
            self.default = `default`
            self.methods = methods
        }

        public func timeout(for method: String) -> Timeout { methods[method] ?? `default` }

        enum CodingKeys: String, CodingKey {
            case queryAfterSeconds = "query_after_seconds", expireAfterSeconds = "expire_after_seconds", methods
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let base = Self().default
            `default` = Timeout(queryAfterSeconds: try c.decodeIfPresent(Double.self, forKey: .queryAfterSeconds) ?? base.queryAfterSeconds,
                                expireAfterSeconds: try c.decodeIfPresent(Double.self, forKey: .expireAfterSeconds) ?? base.expireAfterSeconds)
            methods = try c.decodeIfPresent([String: Timeout].self, forKey: .methods) ?? [:]
            for (name, timeout) in [("default", `default`)] + methods.sorted(by: { $0.key < $1.key }) {
                guard name == "default" || PaymentMethod(rawValue: name) != nil else {
                    throw DecodingError.dataCorruptedError(forKey: .methods, in: c,
                                                           debugDescription: "'\(name)' is not a payment method")
                }
                guard timeout.queryAfterSeconds > 0, timeout.expireAfterSeconds > 0,
                      timeout.queryAfterSeconds <= 31_536_000, timeout.expireAfterSeconds <= 31_536_000 else {
                    throw DecodingError.dataCorruptedError(forKey: .methods, in: c,
                                                           debugDescription: "\(name): timeouts must be above 0 and at most a year")
                }
            }
        }
    }

    /// Reads and checks the policy file the settings name.
    /// - Parameter configFile: the daemon's config file, whose folder relative paths start from.
    public static func loadPolicy(_ settings: Settings, configFile: String?) throws -> PaymentPolicy {
        guard let file = settings.policyFile, !file.isEmpty else {
            throw ConfigurationError("stage.policy_file is required (the payment policy, e.g. Config/payment-policy.json)")
        }
        let path = configRelativePath(file, configFile: configFile)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError("cannot read the payment policy \(path)")
        }
        let policy: PaymentPolicy
        do { policy = try PaymentPolicy.decode(from: data) } catch {
            throw ConfigurationError("payment policy \(path): \(Wire.describe(error))")
        }
        let problems = RequestRules.validate(policy: policy)
        guard problems.isEmpty else {
            throw ConfigurationError("payment policy \(path) is inconsistent: \(problems.joined(separator: "; "))")
        }
        return policy
    }
}
