import Foundation
import PaystreamChannels
import Testing

/// The channels' published test vectors (from their official SDKs' test suites; data, not keys of
/// any live account) verify in our code, and one byte changed in each is refused.
@Suite("channel signatures: published known answers")
struct ChannelVectorTests {
    // MARK: Alipay (alipay-sdk-java-all, RSACheckTest)

    static let alipayPublicKey = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAjuWo0SEz7Oa6h927DFEL8d4BxhbVLX9iahEQXvURXZu3jF7FyzSneE8YTEzUhe6vscRl9zWOyr7tTaSFGg0RWxp0FkyxU9O1zdqK6IdY3+BSJJvi4z+GcBFBJS3UzuYRfGklHPSRYmxJSqNzHYGi+7TRwYVshkZe/8fzpDMF8+lF32oBPfSt9KJlvcKO2J5UxOrrTCZYh13z/WtmkbL4QRcEYaRc5CgZMGBReh9AjPCtaKABM23/42DHrS440x4lMuTVFij7UX9XaJY2CwQKqFTrbzeJDpJyOZSGs5VW6HbRM5JoXHbFzM0LULDmo/6Ea0hOdi4YhMNXFKGjWT7ThQIDAQAB"

    static let alipayVectors: [(parameters: [String: String], signature: String)] = [
        (["method": "koubei.marketing.data.indicator.query", "app_id": "2019090366875133", "sign_type": "RSA2"],
         "JzoDc8VxY1/w6yN9WdWV10aipS3YcRpK+jw4xfLybf90ZK9L3AHLUJbNLWVnHW3IuLoJbBeSGVxSbPBhe4ggPklcYUkPowgtlZ6YlthuQDtjF23h2obXuXkQRd+RPbDWvOA5AYQjsKH8uSHil5aRARewPIPhukl9Mn4HEovUccsBR/RirQFSGmGYiMM0zvhVSR7pXZDEhiADzvzAkvVVTI1/HbNqcoBU4ctSPAGsuDPO/mah1+IwGQAuPP6xoEPL+3zQ0wztQCwHT2o8aQmxFJ9a09q8ybRprHaNjCgTaLDeTWE0o1pllZIE8c7wnG3cOuj6quYjTcQyLm6P4M87Zw=="),
        (["method": "koubei.marketing.data.indicator.query", "app_id": "2019090366875133", "extra": "中文测试", "sign_type": "RSA2"],
         "KrRGUY3/2JX3KtlLgus8CbK0xuUIBDCpOdJkVzJDefez6HvlA8RA6uCVj2rrMd7DgVfarG5SROdSnkZbf8MLKHbVoFqi9w0QCvto9mc8n3ezfWejZECJVCZhbJ3OslB+4gij9+F70usrnCNEJZm02ntyNdVzcqMbgdRMB93BJIRC1jjmCotpXgXWrRdTb/SfhIAkoHqgGi2aCUHuLDInLGZCn8NeziGWMnFOic6/sE/nMpwriOmwLb2nyzD0fGiolwuuxlOGMcBHAb22J8XqchFHyCpbs2A/rWdJMjhUfqsErbtZQM93fi1xfL2pUa9RMWX0Q81Qk7iSEeHCR+NGyQ=="),
    ]

    @Test("Alipay RSA2: both vectors verify over the content we build; a changed byte or field is refused")
    func alipay() throws {
        let key = try RSAVerifyingKey(text: Self.alipayPublicKey)
        #expect(AlipaySignature.requestContent(Self.alipayVectors[0].parameters)
                == "app_id=2019090366875133&method=koubei.marketing.data.indicator.query&sign_type=RSA2")
        #expect(AlipaySignature.requestContent(Self.alipayVectors[1].parameters)
                == "app_id=2019090366875133&extra=中文测试&method=koubei.marketing.data.indicator.query&sign_type=RSA2")
        for (parameters, signature) in Self.alipayVectors {
            let content = AlipaySignature.requestContent(parameters)
            #expect(key.isValid(signature: signature, for: content))
            // sign and empty values are not part of the content.
            var withSign = parameters
            withSign["sign"] = signature
            withSign["notify_url"] = ""
            #expect(key.isValid(signature: signature, for: AlipaySignature.requestContent(withSign)))
            var changed = Array(content.utf8)
            changed[changed.count / 2] ^= 0x01
            #expect(!key.isValid(signature: signature, for: Data(changed)))
            var tamperedSignature = Array(Data(base64Encoded: signature)!)
            tamperedSignature[10] ^= 0x01
            #expect(!key.isValid(signature: Data(tamperedSignature).base64EncodedString(), for: content))
            // The notify (V1) content leaves sign_type out: it must not verify these V2 vectors.
            #expect(!key.isValid(signature: signature, for: AlipaySignature.notifyContent(parameters)))
        }
    }

    // MARK: WeChat Pay (wechatpay-go: notify_test.go, sign_test.go; wechatpay-java: AeadAesCipherTest)

    static let weChatPlatformKey = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA2VCTd91fnUn73Xy9DLvt/V62TVxRTEEstVdeRaZ3B3leO0pldE806mXO4RwdHXagHQ4vGeZN0yqm++rDsGK+U3AH7kejyD2pXshNP9Cq5YwbptiLGtjcquw4HNxJQUOmDeJf2vg6byms9RUipiq4SzbJKqJFlUpbuIPDpSpWz10PYmyCNeDGUUK65E5h2B834uxl1zNLYQCrkdBzb8oUxwYeP5a2DNxmjL5lsJML7DGr5znsevnoqGRwTm9fxCGfy8wus7hwKz6clt3Whmmda7UAdb1c08hEQFVRbF14AR73xbnd8N0obCWJPCbzMCtkaSef4FdEEgEXJiw0VAJT8wIDAQAB"
    static let weChatCallbackBody = #"{"id":"3119dfba-e649-5eec-ab1e-3412bc4d2e17","create_time":"2021-06-24T16:37:26+08:00","resource_type":"encrypt-resource","event_type":"PAYSCORE.USER_OPEN_SERVICE","summary":"签约成功","resource":{"original_type":"payscore","algorithm":"AEAD_AES_256_GCM","ciphertext":"YDS3lKPaC4Y52Gf3uhft5qUBlIa8b428AWTtTauHQfQrRw+X1WpiuHIDy0vo1Vd6VEq67aVyqPdDYMkRVSDaZL3iZttevRMOoPKMifozg6XPWjIZumks/GpT48lI4NizyeaqLBokNebthah3o1H76qSlO9NkDjp9bzmKLEYYH9TEklFUpsvPqOTOcgSLgh21YJXYR7dEBXFgRLiNIKRgO5JdXh1hccRUAlyVWxE54PXpnQ==","associated_data":"payscore","nonce":"Kj7QIyUiYx1q"}}"#
    static let weChatCallbackHeaders = [
        "Wechatpay-Timestamp": "1624523846",
        "Wechatpay-Nonce": "EcZ9Cmy4Xyx1i6RlJQzLcCyEqDa26NBz",
        "Wechatpay-Signature": "tJHIiIS9eB2hAYstmAmbbD3ZE5LiIm/Ug5tuL4fC0YOFRWIHV39UFIZXC0e9Wl6lBu6sKvkqDkzpqzBsVHyXFlbYZTOQrVdG4b6LfTnK4mikv9++ixJMd3vTf2yCqvBkh98zs3Ds5zsYQakzbcwhmw4fMJs4nPLws28H0UW9FjDR//rxELLwXvV1VEA1IBLX70xptjL8hrfUjEE8kkry6yNJTHZRU8CAc7qHli2Ng1V1qb9ARbK8A3ThmFmPQvRGrapI/jS2laKKgYUmfdEdkNO6B2Cke5e8VTxY406ArAmQ90GAihDwIcb16TQMnzCMBoutnwZKNiKRACrFmtxw2Q==",
        "Wechatpay-Serial": "D7CE59D1F522D701",
    ]
    static let weChatCallbackTime = Date(timeIntervalSince1970: 1_624_523_846)

    @Test("WeChat Pay callback: the signature verifies and the resource decrypts; a changed byte, an old timestamp, a SIGNTEST probe and an unknown serial are refused")
    func weChatCallback() throws {
        let body = Data(Self.weChatCallbackBody.utf8)
        #expect(body.count == 568)
        let verifier = WeChatPayVerifier(keys: ["D7CE59D1F522D701": try RSAVerifyingKey(text: Self.weChatPlatformKey)])
        try verifier.verify(headers: Self.weChatCallbackHeaders, body: body, now: Self.weChatCallbackTime)
        // Header names are matched without case, as HTTP says.
        try verifier.verify(headers: Dictionary(uniqueKeysWithValues: Self.weChatCallbackHeaders.map { ($0.key.lowercased(), $0.value) }),
                            body: body, now: Self.weChatCallbackTime.addingTimeInterval(299))

        var changed = Array(body)
        changed[200] ^= 0x01
        #expect(throws: WeChatPayVerificationError.badSignature) {
            try verifier.verify(headers: Self.weChatCallbackHeaders, body: Data(changed), now: Self.weChatCallbackTime)
        }
        #expect(throws: WeChatPayVerificationError.staleTimestamp) {
            try verifier.verify(headers: Self.weChatCallbackHeaders, body: body, now: Self.weChatCallbackTime.addingTimeInterval(301))
        }
        var probe = Self.weChatCallbackHeaders
        probe["Wechatpay-Signature"] = "WECHATPAY/SIGNTEST/" + probe["Wechatpay-Signature"]!
        #expect(throws: WeChatPayVerificationError.signatureProbe) {
            try verifier.verify(headers: probe, body: body, now: Self.weChatCallbackTime)
        }
        var otherSerial = Self.weChatCallbackHeaders
        otherSerial["Wechatpay-Serial"] = "PUB_KEY_ID_0000"
        #expect(throws: WeChatPayVerificationError.unknownSerial) {
            try verifier.verify(headers: otherSerial, body: body, now: Self.weChatCallbackTime)
        }
        var noNonce = Self.weChatCallbackHeaders
        noNonce["Wechatpay-Nonce"] = nil
        #expect(throws: WeChatPayVerificationError.missingHeader) {
            try verifier.verify(headers: noNonce, body: body, now: Self.weChatCallbackTime)
        }
        var otherType = Self.weChatCallbackHeaders
        otherType["Wechatpay-Signature-Type"] = "WECHATPAY2-SM2-WITH-SM3"
        #expect(throws: WeChatPayVerificationError.unsupportedSignatureType) {
            try verifier.verify(headers: otherType, body: body, now: Self.weChatCallbackTime)
        }

        // The vector's key is 16 bytes (AES-128-GCM, as the Go SDK accepts).
        let notification = try JSONDecoder().decode(WeChatPayNotification.self, from: body)
        #expect(notification.id == "3119dfba-e649-5eec-ab1e-3412bc4d2e17" && notification.summary == "签约成功")
        let plaintext = try notification.decrypt(with: WeChatPayCipher(apiV3Key: "testMchAPIv3Key0"))
        #expect(String(decoding: plaintext, as: UTF8.self)
                == #"{"mchid":"1234567890","appid":"054aa7d7a2a54ab5898df65bd96f001c","create_time":"2020-06-30T12:12:00+08:00","out_contract_code":"21640bdbd08e473e828f3206a2741c6e"}"#)
        var tampered = notification
        tampered.resource.associatedData = "payscorf"
        #expect(throws: WeChatPayDecryptionError.self) { try tampered.decrypt(with: WeChatPayCipher(apiV3Key: "testMchAPIv3Key0")) }
        #expect(throws: WeChatPayDecryptionError.self) { try notification.decrypt(with: WeChatPayCipher(apiV3Key: "testMchAPIv3Key1")) }
    }

    @Test("AES-256-GCM (wechatpay-java): encrypts to the published value and back; a changed byte of it is refused")
    func aes256GCM() throws {
        let cipher = try WeChatPayCipher(apiV3Key: "a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb")
        #expect(try cipher.encrypt(Data("message".utf8), nonce: "uluk4a9R25RW", associatedData: "associatedData") == "ulwSiIajGClcvcOYvOQ7+l+0PAbzzwI=")
        #expect(try cipher.decrypt(ciphertext: "ulwSiIajGClcvcOYvOQ7+l+0PAbzzwI=", nonce: "uluk4a9R25RW", associatedData: "associatedData")
                == Data("message".utf8))
        var bytes = Array(Data(base64Encoded: "ulwSiIajGClcvcOYvOQ7+l+0PAbzzwI=")!)
        bytes[0] ^= 0x01
        #expect(throws: WeChatPayDecryptionError.self) {
            try cipher.decrypt(ciphertext: Data(bytes).base64EncodedString(), nonce: "uluk4a9R25RW", associatedData: "associatedData")
        }
        #expect(throws: WeChatPayDecryptionError.self) { try WeChatPayCipher(apiV3Key: "too short") }
    }

    /// wechatpay-go's utils/sign_test.go "TESTING KEY" (its label changed to PRIVATE KEY, as the Go
    /// test does before parsing): the private half of the callback vector's platform key.
    static let weChatTestingKey = """
        -----BEGIN PRIVATE KEY-----
        MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDZUJN33V+dSfvd
        fL0Mu+39XrZNXFFMQSy1V15FpncHeV47SmV0TzTqZc7hHB0ddqAdDi8Z5k3TKqb7
        6sOwYr5TcAfuR6PIPaleyE0/0KrljBum2Isa2Nyq7Dgc3ElBQ6YN4l/a+DpvKaz1
        FSKmKrhLNskqokWVSlu4g8OlKlbPXQ9ibII14MZRQrrkTmHYHzfi7GXXM0thAKuR
        0HNvyhTHBh4/lrYM3GaMvmWwkwvsMavnOex6+eioZHBOb1/EIZ/LzC6zuHArPpyW
        3daGaZ1rtQB1vVzTyERAVVFsXXgBHvfFud3w3ShsJYk8JvMwK2RpJ5/gV0QSARcm
        LDRUAlPzAgMBAAECggEBAMc7rDeUaXiWv6bMGbZ3BTXpg1FhdddnWUnYE8HfX/km
        OFI7XtBHXcgYFpcjYz4D5787pcsk7ezPidAj58zqenuclmjKnUmT3pfbI5eCA2v4
        C9HnbYDrmUPK1ZcADtka4D6ScDccpNYNa1g2TFHzkIrEa6H+q7S3O2fqxY/DRVtN
        0JIXalBb8daaqL5QVzSmM2BMVnHy+YITJWIkP2a3pKs9C0W65JGDsnG0wVrHinHF
        +cnhFZIbaPEI//DAFMc9NkrWOKVRTEgcCUxCFaHOZVNxDWZD7A2ZfJB2rK6eg//y
        gEiFDR2h6mTaDowMB4YF2n2dsIO4/dCG8vPHI20jn4ECgYEA/ZGu6lEMlO0XZnam
        AZGtiNgLcCfM/C2ZERZE7QTRPZH1WdK92Al9ndldsswFw4baJrJLCmghjF/iG4zi
        hhBvLnOLksnZUfjdumxoHDWXo2QBWbI5QsWIE7AuTiWgWj1I7X4fCXSQf6i+M/y2
        6TogQ7d0ANpZFyOkTNMn/tiJvLECgYEA22XqlamG/yfAGWery5KNH2DGlTIyd6xJ
        WtJ9j3jU99lZ0bCQ5xhiBbU9ImxCi3zgTsoqLWgA/p00HhNFNoUcTl9ofc0G3zwT
        D1y0ZzcnVKxGJdZ6ohW52V0hJStAigtjYAsUgjm7//FH7PiQDBDP1Wa6xSRkDQU/
        aSbQxvEE8+MCgYEA3bb8krW7opyM0XL9RHH0oqsFlVO30Oit5lrqebS0oHl3Zsr2
        ZGgoBlWBsEzk3UqUhTFwm/DhJLTSJ/TQPRkxnhQ5/mewNhS9C7yua7wQkzVmWN+V
        YeUGTvDGDF6qDz12/vJAgSwDDRym8x4NcXD5tTw7mmNRcwIfL22SkysThIECgYAV
        BgccoEoXWS/HP2/u6fQr9ZIR6eV8Ij5FPbZacTG3LlS1Cz5XZra95UgebFFUHHtC
        EY1JHJY7z8SWvTH8r3Su7eWNaIAoFBGffzqqSVazfm6aYZsOvRY6BfqPHT3p/H1h
        Tq6AbBffxrcltgvXnCTORjHPglU0CjSxVs7awW3AEQKBgB5WtaC8VLROM7rkfVIq
        +RXqE5vtJfa3e3N7W3RqxKp4zHFAPfr82FK5CX2bppEaxY7SEZVvVInKDc5gKdG/
        jWNRBmvvftZhY59PILHO2X5vO4FXh7suEjy6VIh0gsnK36mmRboYIBGsNuDHjXLe
        BDa+8mDLkWu5nHEhOxy2JJZl
        -----END PRIVATE KEY-----
        """

    @Test("SHA256withRSA (wechatpay-go): our signature of \"source\" is the published one byte for byte, and the key is the callback key's private half")
    func weChatSigning() throws {
        let key = try RSASigningKey(text: Self.weChatTestingKey)
        #expect(key.sign("source") == "BKyAfU4iMCuvXMXS0Wzam3V/cnxZ+JaqigPM5OhljS2iOT95OO6Fsuml2JkFANJU9K6q9bLlDhPXuoVz+pp4hAm6pHU4ld815U4jsKu1RkyaII+1CYBUYC8TK0XtJ8FwUXXz8vZHh58rrAVN1XwNyvD1vfpxrMT4SL536GLwvpUHlCqIMzoZUguLli/K8V29QiOhuH6IEqLNJn8e9b3nwNcQ7be3CzYGpDAKBfDGPCqCv8Rw5zndhlffk2FEA70G4hvMwe51qMN/RAJbknXG23bSlObuTCN7Ndj1aJGH6/L+hdwfLpUtJm4QYVazzW7DFD27EpSQEqA8bX9+8m1rLg==")
        #expect(key.publicKey.base64DER == Self.weChatPlatformKey)
        #expect("\(key)" == "RSA private key (2048 bits)", "a key's description never shows the key")
        // The callback vector, signed again with the private half, is the published signature.
        let message = WeChatPaySignature.responseMessage(timestamp: "1624523846", nonce: "EcZ9Cmy4Xyx1i6RlJQzLcCyEqDa26NBz",
                                                         body: Data(Self.weChatCallbackBody.utf8))
        #expect(key.sign(message) == Self.weChatCallbackHeaders["Wechatpay-Signature"])
    }
}
