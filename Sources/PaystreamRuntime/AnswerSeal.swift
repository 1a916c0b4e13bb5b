import Crypto
import Foundation
import Logging
import PaystreamKafka

/// Answers that prove where they came from. A channel connector (the sandbox, the channel
/// gateway) or a bank adapter seals every answer it writes to `channel.confirmations` or
/// `payouts.confirmations` with an HMAC-SHA256 under its own key; payment-worker and
/// settlement-worker check the seal before any decision. Write access to the answer topics is
/// then no longer enough to capture a payment or put a payout back: the writer must also hold
/// the signer's key.
///
/// The seal is the record header `paystream-answer-seal`: `v1 <signer> <key id> <base64 MAC>`.
/// The MAC covers `paystream-answer-seal/v1\n<topic>\n<key length>\n<key><value>`: the topic
/// (an answer cannot be moved to another topic), the record key (nor to another payer's shard)
/// and the value byte for byte (a repeated answer repeats its bytes, so its seal too).
///
/// Signers: a channel answer is sealed by the payment method it answers (`card`, `alipay`,
/// `wechat_pay`, …: the connector holding that method's key), and the payment-worker accepts
/// it only for a payment of that method; a payout answer is sealed by `bank`.
public enum AnswerSeal {
    public static let header = "paystream-answer-seal"
    /// The signer of payout answers.
    public static let bank = "bank"
    static let version = "v1"
    static let domain = "paystream-answer-seal/v1"

    /// The MAC of a record under a key (`AnswerKey.hmac`: its key schedule, done once).
    static func mac(_ keyed: HMAC<SHA256>, topic: String, recordKey: [UInt8]?, value: [UInt8]) -> HashedAuthenticationCode<SHA256> {
        var hmac = keyed
        hmac.update(data: Array("\(domain)\n\(topic)\n\(recordKey?.count ?? -1)\n".utf8))
        if let recordKey { hmac.update(data: recordKey) }
        hmac.update(data: value)
        return hmac.finalize()
    }
}

/// One answer key: its id (named in the seal, so that keys can be rotated) and its secret.
public struct AnswerKey: Sendable {
    public let id: String
    private let bytes: [UInt8]
    private let keyed: KeyedHMAC
    /// HMAC-SHA256 with this key set up, ready for a record (copied for each).
    var hmac: HMAC<SHA256> { keyed.hmac }

    /// HMAC's state after its key: a value of two SHA-256 states, which swift-crypto does not mark
    /// `Sendable`; nothing in it is shared or mutated after it is made.
    private struct KeyedHMAC: @unchecked Sendable {
        let hmac: HMAC<SHA256>
    }

    /// The shortest secret accepted: 32 bytes (HMAC-SHA256's block is 64, its output 32).
    public static let minimumBytes = 32

    public init(id: String, secret: [UInt8]) throws(AnswerKeyError) {
        guard !id.isEmpty, id.count <= 64, id.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && $0.value < 0x7F }) else {
            throw AnswerKeyError("key id '\(id.prefix(64))' must be 1 to 64 printable ASCII characters without spaces")
        }
        guard secret.count >= Self.minimumBytes else {
            throw AnswerKeyError("key '\(id)' has \(secret.count) bytes; at least \(Self.minimumBytes) are required")
        }
        self.id = id
        self.bytes = secret
        self.keyed = KeyedHMAC(hmac: HMAC<SHA256>(key: SymmetricKey(data: secret)))
    }

    /// A fresh random key (for tests and the local run).
    public static func random(id: String) -> AnswerKey {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return try! AnswerKey(id: id, secret: bytes)  // a valid id and 32 bytes
    }

    /// The key's line in a key file.
    public var fileLine: String {
        "\(id) " + Data(bytes).base64EncodedString()
    }
}

/// A key prints (and reflects) as its id only: the secret never reaches a log line or a dump.
extension AnswerKey: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String { "AnswerKey(\(id), secret redacted)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["id": id], displayStyle: .struct) }
}

public struct AnswerKeyError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// What a record's seal says, checked against a keyring.
public enum AnswerSealCheck: Equatable, Sendable {
    /// Sealed by this signer, under a key the keyring holds.
    case sealed(signer: String)
    /// No seal header.
    case unsigned
    /// A seal that is malformed, names a signer or key this keyring does not hold, or whose MAC
    /// does not match the record.
    case bad(String)
}

/// The answer keys a daemon holds, per signer. The first key of a signer seals; every key of a
/// signer is accepted (two while a key is being rotated).
///
/// On disk (systemd credentials): one file per signer, `answers_<signer>` in
/// `$CREDENTIALS_DIRECTORY` (`LoadCredential=answers:/etc/paystream/<daemon>/answers`), one key per
/// line: `<key id> <base64 secret of at least 32 bytes>`; `#` starts a comment.
public struct AnswerKeyring: Sendable {
    public static let filePrefix = "answers_"

    public private(set) var keys: [String: [AnswerKey]]

    public init(_ keys: [String: [AnswerKey]] = [:]) {
        self.keys = keys.filter { !$0.value.isEmpty }
    }

    public var signers: [String] { keys.keys.sorted() }
    public var isEmpty: Bool { keys.isEmpty }

    /// Only these signers' keys (a verifier holds only the signers it accepts).
    public func only(_ accept: (String) -> Bool) -> AnswerKeyring {
        AnswerKeyring(keys.filter { accept($0.key) })
    }

    /// Reads every `answers_<signer>` file of a folder.
    public static func load(directory: String) throws(AnswerKeyError) -> AnswerKeyring {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw AnswerKeyError("cannot read the credentials folder \(directory): \(error.localizedDescription)")
        }
        var keys: [String: [AnswerKey]] = [:]
        for name in names.sorted() where name.hasPrefix(filePrefix) {
            let signer = String(name.dropFirst(filePrefix.count))
            guard !signer.isEmpty else { continue }
            guard let text = try? String(contentsOfFile: "\(directory)/\(name)", encoding: .utf8) else {
                throw AnswerKeyError("cannot read the answer key file \(name)")
            }
            do {
                keys[signer] = try parse(text)
            } catch {
                throw AnswerKeyError("\(name): \(error.description)")
            }
            if keys[signer]?.isEmpty ?? true { throw AnswerKeyError("\(name) holds no key") }
        }
        return AnswerKeyring(keys)
    }

    /// Parses a key file; the secret never appears in an error.
    public static func parse(_ text: String) throws(AnswerKeyError) -> [AnswerKey] {
        var keys: [AnswerKey] = []
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count == 2, let secret = Data(base64Encoded: String(parts[1])) else {
                throw AnswerKeyError("line \(number + 1) is not '<key id> <base64 secret>'")
            }
            let key = try AnswerKey(id: String(parts[0]), secret: Array(secret))
            guard !keys.contains(where: { $0.id == key.id }) else { throw AnswerKeyError("key id '\(key.id)' appears twice") }
            keys.append(key)
        }
        return keys
    }

    /// A key file for one signer (the first key seals).
    public static func file(_ keys: [AnswerKey]) -> String {
        keys.map(\.fileLine).joined(separator: "\n") + "\n"
    }

    /// The seal header for a record, under the signer's first key; nil when this keyring has no
    /// key for the signer.
    public func seal(signer: String, topic: String, key: [UInt8]?, value: [UInt8]) -> String? {
        guard let first = keys[signer]?.first else { return nil }
        let mac = AnswerSeal.mac(first.hmac, topic: topic, recordKey: key, value: value)
        return "\(AnswerSeal.version) \(signer) \(first.id) \(Data(mac).base64EncodedString())"
    }

    /// Checks a consumed record's seal.
    public func check(_ record: ConsumedRecord) -> AnswerSealCheck {
        let seals = record.headers.filter { $0.key == AnswerSeal.header }
        guard let header = seals.first else { return .unsigned }
        guard seals.count == 1 else { return .bad("the record carries \(seals.count) seal headers") }
        return check(seal: String(decoding: header.value, as: UTF8.self), topic: record.topic, key: record.key, value: record.value)
    }

    public func check(seal: String, topic: String, key: [UInt8]?, value: [UInt8]) -> AnswerSealCheck {
        let parts = seal.utf8.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0].elementsEqual(AnswerSeal.version.utf8) else {
            return .bad("the seal is not '\(AnswerSeal.version) <signer> <key id> <mac>'")
        }
        let signer = String(decoding: parts[1], as: UTF8.self), keyID = String(decoding: parts[2], as: UTF8.self)
        guard let signerKeys = keys[signer] else { return .bad("signer '\(signer.prefix(64))' has no key here") }
        guard let answerKey = signerKeys.first(where: { $0.id == keyID }) else {
            return .bad("signer '\(signer)' has no key '\(keyID.prefix(64))' here")
        }
        guard let mac = Data(base64Encoded: String(decoding: parts[3], as: UTF8.self)), mac.count == SHA256.byteCount else {
            return .bad("the seal's MAC is not 32 bytes of base64")
        }
        // HashedAuthenticationCode's == compares in constant time.
        guard AnswerSeal.mac(answerKey.hmac, topic: topic, recordKey: key, value: value) == mac else {
            return .bad("the seal does not match the record (signer '\(signer)', key '\(keyID)')")
        }
        return .sealed(signer: signer)
    }

    /// The dead letter for a record that fails the check, or the signer of one that passes.
    public func requireSeal(_ record: ConsumedRecord) throws(DeadLetter) -> String {
        switch check(record) {
        case .sealed(let signer): return signer
        case .unsigned: throw DeadLetter(code: "unsigned_answer", message: "answer on \(record.topic) carries no \(AnswerSeal.header) header")
        case .bad(let why): throw DeadLetter(code: "bad_answer_seal", message: why)
        }
    }
}

/// How a verifying stage treats answers: checked against a keyring (production), or not checked
/// (a development setting that says so in the log at start).
public enum AnswerVerification: Sendable {
    case required(AnswerKeyring)
    case notChecked

    /// From a daemon's settings: the keyring narrowed to the signers it accepts, or (when
    /// `required: false`) not checked, which is logged as a warning.
    public static func from(_ settings: AnswerSettings, purpose: String, accept: (String) -> Bool,
                            environment: [String: String] = ProcessInfo.processInfo.environment,
                            daemon: String) throws -> AnswerVerification {
        let logger = Logger(label: daemon)
        guard let keyring = try settings.keyring(environment: environment, purpose: purpose, accept: accept) else {
            logger.warning("answers are not checked (stage.answers.required: false): anyone who can write the answer topic can decide payments")
            return .notChecked
        }
        logger.info("answer keys loaded", metadata: ["answers.signers": "\(keyring.signers.joined(separator: ","))"])
        return .required(keyring)
    }

    /// The signer of a sealed record; nil when answers are not checked.
    public func signer(of record: ConsumedRecord) throws(DeadLetter) -> String? {
        switch self {
        case .required(let keyring): try keyring.requireSeal(record)
        case .notChecked: nil
        }
    }
}

extension AnswerKeyring {
    /// A signing daemon's keys, from its settings: every signer it answers for must have a key
    /// (checked at start, so no answer is ever left unsealed); nil when `required: false`,
    /// which is logged as a warning.
    public static func signing(_ settings: AnswerSettings, signers: [String],
                               environment: [String: String] = ProcessInfo.processInfo.environment,
                               daemon: String) throws -> AnswerKeyring? {
        let logger = Logger(label: daemon)
        let wanted = Set(signers)
        guard let keyring = try settings.keyring(environment: environment, purpose: "seal answers", accept: wanted.contains) else {
            logger.warning("answers are not sealed (stage.answers.required: false): verifying workers will dead-letter them")
            return nil
        }
        let missing = wanted.subtracting(keyring.signers).sorted()
        guard missing.isEmpty else {
            throw ConfigurationError("no answer key for " + missing.joined(separator: ", ") + ": this daemon answers for them "
                + "(files \(filePrefix)<signer> in the credentials folder)")
        }
        logger.info("answer keys loaded", metadata: ["answers.signers": "\(keyring.signers.joined(separator: ","))"])
        return keyring
    }
}

/// The `answers:` block of a daemon's stage settings: where its answer keys are, and whether
/// answers must be sealed (verifiers) or are sealed (signers).
public struct AnswerSettings: Decodable, Sendable, Equatable {
    /// The folder of the `answers_<signer>` files; "" = `$CREDENTIALS_DIRECTORY`.
    public var credentialsDirectory: String
    /// true (the default): a verifier dead-letters unsealed answers, a signer refuses to start
    /// without keys. false only for development: answers are neither sealed nor checked.
    public var required: Bool

    public init(credentialsDirectory: String = "", required: Bool = true) {
        self.credentialsDirectory = credentialsDirectory
        self.required = required
    }

    enum CodingKeys: String, CodingKey { case credentialsDirectory = "credentials_directory", required }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        credentialsDirectory = try c.decodeIfPresent(String.self, forKey: .credentialsDirectory) ?? ""
        required = try c.decodeIfPresent(Bool.self, forKey: .required) ?? true
    }

    /// The keys in effect: nil when not required; else the keyring of the folder (the setting,
    /// else `$CREDENTIALS_DIRECTORY`), narrowed to `accept`, which must not be empty.
    public func keyring(environment: [String: String] = ProcessInfo.processInfo.environment,
                        purpose: String, accept: (String) -> Bool) throws -> AnswerKeyring? {
        guard required else { return nil }
        let folder = credentialsDirectory.isEmpty ? environment["CREDENTIALS_DIRECTORY"] ?? "" : credentialsDirectory
        guard !folder.isEmpty else {
            throw ConfigurationError("no answer keys to \(purpose): set stage.answers.credentials_directory or run under systemd with "
                + "LoadCredential=answers:… ($CREDENTIALS_DIRECTORY/\(AnswerKeyring.filePrefix)<signer>); "
                + "stage.answers.required: false turns the check off (development only)")
        }
        let keyring: AnswerKeyring
        do {
            keyring = try AnswerKeyring.load(directory: folder).only(accept)
        } catch {
            throw ConfigurationError("answer keys: \(error.description)")
        }
        guard !keyring.isEmpty else {
            throw ConfigurationError("no answer keys to \(purpose) in \(folder) (files \(AnswerKeyring.filePrefix)<signer>)")
        }
        return keyring
    }
}
