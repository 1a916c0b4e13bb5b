import Crypto
import Foundation
import X509
@preconcurrency import _CryptoExtras

/// Why a key, certificate or signature could not be used. Never carries key material.
public struct ChannelKeyError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// An RSA private key that signs the way Alipay (RSA2) and WeChat Pay APIv3 expect: PKCS#1 v1.5
/// padding over SHA-256, the signature in base64. PKCS#1 v1.5 is deterministic: the same key and
/// message give the same signature, byte for byte, in any correct implementation.
///
/// Its description names the key's size only: a key is never printed or logged.
public struct RSASigningKey: Sendable, CustomStringConvertible {
    let key: _RSA.Signing.PrivateKey

    init(key: _RSA.Signing.PrivateKey) { self.key = key }

    /// A key as the channels hand it out: PEM (`PRIVATE KEY`, PKCS#8, or `RSA PRIVATE KEY`,
    /// PKCS#1), or the bare base64 of either DER form (Alipay's key tool writes that). At least
    /// 2048 bits.
    public init(text: String) throws(ChannelKeyError) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        do {
            if trimmed.hasPrefix("-----BEGIN") {
                key = try _RSA.Signing.PrivateKey(pemRepresentation: trimmed)
            } else if let der = Data(base64Encoded: trimmed, options: .ignoreUnknownCharacters), !der.isEmpty {
                key = try _RSA.Signing.PrivateKey(derRepresentation: der)
            } else {
                throw ChannelKeyError("an RSA private key is PEM or base64 DER")
            }
        } catch let error as ChannelKeyError {
            throw error
        } catch {
            throw ChannelKeyError("not a usable RSA private key (PKCS#1 or PKCS#8, 2048 bits or more)")
        }
    }

    /// A new 2048-bit key (simulators and tests).
    public static func generate() -> RSASigningKey {
        // 2048 bits is always a supported size: generation cannot fail for it.
        RSASigningKey(key: try! _RSA.Signing.PrivateKey(keySize: .bits2048))
    }

    /// SHA256withRSA (PKCS#1 v1.5) of `message`, base64.
    public func sign(_ message: some DataProtocol) -> String {
        // Signing with a valid key and a supported padding does not fail.
        let signature = try! key.signature(for: message, padding: .insecurePKCS1v1_5)
        return signature.rawRepresentation.base64EncodedString()
    }

    public func sign(_ message: String) -> String { sign(Data(message.utf8)) }

    public var publicKey: RSAVerifyingKey { RSAVerifyingKey(key: key.publicKey) }

    /// PKCS#8 PEM, for writing a generated key to a credential file.
    public var pemRepresentation: String { key.pkcs8PEMRepresentation }

    public var description: String { "RSA private key (\(key.keySizeInBits) bits)" }
}

/// An RSA public key that checks PKCS#1 v1.5 / SHA-256 signatures (the channel's, or ours in a
/// simulator).
public struct RSAVerifyingKey: Sendable, CustomStringConvertible {
    let key: _RSA.Signing.PublicKey

    init(key: _RSA.Signing.PublicKey) { self.key = key }

    /// PEM (`PUBLIC KEY` or `RSA PUBLIC KEY`), a PEM certificate (its key), or bare base64 of the
    /// SubjectPublicKeyInfo DER (how Alipay shows its public key).
    public init(text: String) throws(ChannelKeyError) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.hasPrefix("-----BEGIN CERTIFICATE") {
            self = try RSACertificate(pem: trimmed).key
            return
        }
        do {
            if trimmed.hasPrefix("-----BEGIN") {
                key = try _RSA.Signing.PublicKey(pemRepresentation: trimmed)
            } else if let der = Data(base64Encoded: trimmed, options: .ignoreUnknownCharacters), !der.isEmpty {
                key = try _RSA.Signing.PublicKey(derRepresentation: der)
            } else {
                throw ChannelKeyError("an RSA public key is PEM or base64 DER")
            }
        } catch let error as ChannelKeyError {
            throw error
        } catch {
            throw ChannelKeyError("not a usable RSA public key (SubjectPublicKeyInfo or PKCS#1, 2048 bits or more)")
        }
    }

    /// Whether `signature` (base64) is this key's PKCS#1 v1.5 / SHA-256 signature of `message`.
    /// Anything that is not base64 is simply not valid.
    public func isValid(signature: String, for message: some DataProtocol) -> Bool {
        guard let raw = Data(base64Encoded: signature), !raw.isEmpty else { return false }
        return key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: raw), for: message, padding: .insecurePKCS1v1_5)
    }

    public func isValid(signature: String, for message: String) -> Bool { isValid(signature: signature, for: Data(message.utf8)) }

    /// SubjectPublicKeyInfo PEM.
    public var pemRepresentation: String { key.pemRepresentation }

    /// The bare base64 SubjectPublicKeyInfo, as Alipay shows keys.
    public var base64DER: String { key.derRepresentation.base64EncodedString() }

    public var description: String { "RSA public key (\(key.keySizeInBits) bits)" }
}

/// An X.509 certificate holding an RSA key: WeChat Pay's platform certificates and a merchant's
/// API certificate. The serial is what `Wechatpay-Serial` and `serial_no` name.
public struct RSACertificate: Sendable {
    public let key: RSAVerifyingKey
    /// The serial number as WeChat Pay writes it: uppercase hex of its bytes.
    public let serial: String
    public let notValidAfter: Date

    public init(pem: String) throws(ChannelKeyError) {
        let certificate: Certificate
        do {
            certificate = try Certificate(pemEncoded: pem)
        } catch {
            throw ChannelKeyError("not a PEM X.509 certificate")
        }
        guard let rsa = _RSA.Signing.PublicKey(certificate.publicKey) else {
            throw ChannelKeyError("the certificate's key is not RSA")
        }
        key = RSAVerifyingKey(key: rsa)
        serial = Self.hex(certificate.serialNumber.bytes)
        notValidAfter = certificate.notValidAfter
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        var out = [UInt8]()
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        // DER integers carry a leading zero byte when the top bit is set; the serial WeChat
        // prints does not.
        while out.count > 2, out[0] == UInt8(ascii: "0"), out[1] == UInt8(ascii: "0") { out.removeFirst(2) }
        return String(decoding: out, as: UTF8.self)
    }
}
