import Foundation
import PaystreamDomain
import PaystreamKafka
import PaystreamRuntime

/// Answer keys for tests (`AnswerSeal`): one random key per payment method and for the bank,
/// made once per test process. The in-process pipeline's sandbox seals with them and its
/// workers check them; daemons started by `DaemonProcess` find them as `answers_<signer>` in
/// their `$CREDENTIALS_DIRECTORY`; a test playing a channel seals what it sends with `headers`.
public enum TestAnswerKeys {
    /// Every signer a test may need: the payment methods and the bank.
    public static let signers = PaymentMethod.allCases.map(\.rawValue) + [AnswerSeal.bank]

    public static let keyring = AnswerKeyring(Dictionary(uniqueKeysWithValues: signers.map { ($0, [AnswerKey.random(id: "test-1")]) }))

    /// The payment-worker's view: every channel's key.
    public static var payment: AnswerVerification { .required(keyring.only { $0 != AnswerSeal.bank }) }
    /// The settlement-worker's view: the bank's key.
    public static var settlement: AnswerVerification { .required(keyring.only { $0 == AnswerSeal.bank }) }

    /// The key files, as systemd would load them (`answers_<signer>` → content).
    public static var files: [String: String] {
        Dictionary(uniqueKeysWithValues: keyring.keys.map { ("\(AnswerKeyring.filePrefix)\($0.key)", AnswerKeyring.file($0.value)) })
    }

    /// Writes the key files into `folder` (0600), leaving files already there alone.
    public static func write(into folder: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for (name, content) in files {
            let path = "\(folder)/\(name)"
            guard !FileManager.default.fileExists(atPath: path) else { continue }
            FileManager.default.createFile(atPath: path, contents: Data(content.utf8), attributes: [.posixPermissions: 0o600])
        }
    }

    /// A credentials folder holding only the answer keys, made once per test process.
    public static let folder: String = {
        let folder = NSTemporaryDirectory() + "paystream-answer-keys-\(ProcessInfo.processInfo.processIdentifier)"
        try? write(into: folder)
        return folder
    }()

    /// The seal header of a record `signer` sends (a test playing a channel or the bank).
    public static func headers(signer: String, topic: String, key: String?, value: Data) -> [KafkaHeader] {
        guard let seal = keyring.seal(signer: signer, topic: topic, key: key.map { Array($0.utf8) }, value: Array(value)) else { return [] }
        return [KafkaHeader(key: AnswerSeal.header, value: Array(seal.utf8))]
    }
}
