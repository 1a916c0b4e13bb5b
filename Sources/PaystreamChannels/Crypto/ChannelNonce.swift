import Foundation

/// Random strings the protocols ask for (WeChat Pay's `nonce_str` and callback nonces): letters
/// and digits from the system's random source.
public enum ChannelNonce {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)

    public static func make(length: Int = 32) -> String {
        var generator = SystemRandomNumberGenerator()
        return String(decoding: (0..<length).map { _ in alphabet.randomElement(using: &generator)! }, as: UTF8.self)
    }
}
