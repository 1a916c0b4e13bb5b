import Foundation
import PaystreamChannels

/// The key files a local run shares between the gateway and the simulators (one folder: the
/// gateway's `$CREDENTIALS_DIRECTORY` and the simulators' `--keys`). Test keys only, made fresh
/// for each run by `channel-simulator keys`.
public enum SimulatorKeys {
    /// Files the gateway reads (its credentials).
    public static let gatewayFiles = ["alipay-app-private-key", "alipay-public-key", "wechatpay-merchant-private-key",
                                      "wechatpay-public-key", "wechatpay-apiv3-key"]
    /// The serial the simulated WeChat Pay public key goes by (`Wechatpay-Serial`).
    public static let weChatPublicKeyID = "PUB_KEY_ID_0100000000000000000000000000SIM1"
    public static let weChatMerchantSerial = "5F1C72E2A0000000000000000000000000000001"

    /// Writes a fresh set: each side's private key and the other side's public key, and an APIv3
    /// key; every file 0600.
    public static func generate(into folder: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let alipayApp = RSASigningKey.generate(), alipay = RSASigningKey.generate()
        let merchant = RSASigningKey.generate(), weChat = RSASigningKey.generate()
        let apiV3Key = ChannelNonce.make(length: 32)
        let files: [(String, String)] = [
            ("alipay-app-private-key", alipayApp.pemRepresentation), ("alipay-app-public-key", alipayApp.publicKey.pemRepresentation),
            ("alipay-private-key", alipay.pemRepresentation), ("alipay-public-key", alipay.publicKey.pemRepresentation),
            ("wechatpay-merchant-private-key", merchant.pemRepresentation), ("wechatpay-merchant-public-key", merchant.publicKey.pemRepresentation),
            ("wechatpay-private-key", weChat.pemRepresentation), ("wechatpay-public-key", weChat.publicKey.pemRepresentation),
            ("wechatpay-apiv3-key", apiV3Key),
        ]
        for (name, content) in files {
            let path = (folder as NSString).appendingPathComponent(name)
            FileManager.default.createFile(atPath: path, contents: Data((content + (content.hasSuffix("\n") ? "" : "\n")).utf8),
                                           attributes: [.posixPermissions: 0o600])
        }
    }

    /// The simulator's identity for `kind`, read from a folder `generate` wrote.
    public static func identity(_ kind: ChannelKind, folder: String, merchantId: String) throws -> SimulatorIdentity {
        func read(_ name: String) throws -> String {
            let path = (folder as NSString).appendingPathComponent(name)
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw ChannelKeyError("cannot read \(path)") }
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        switch kind {
        case .alipay:
            return SimulatorIdentity(channelKey: try RSASigningKey(text: read("alipay-private-key")), channelSerial: "",
                                     merchantKey: try RSAVerifyingKey(text: read("alipay-app-public-key")), merchantId: merchantId, apiV3Key: nil)
        case .weChatPay:
            return SimulatorIdentity(channelKey: try RSASigningKey(text: read("wechatpay-private-key")), channelSerial: weChatPublicKeyID,
                                     merchantKey: try RSAVerifyingKey(text: read("wechatpay-merchant-public-key")), merchantId: merchantId,
                                     apiV3Key: try read("wechatpay-apiv3-key"))
        }
    }
}
