import Foundation
import PaystreamChannels
import PaystreamDomain
import PaystreamWire
import Testing

/// The JSON Schema files in `docs/schemas` must describe what the Swift message types encode:
/// every required key is written, every written key is described, and `schema` is the file's const.
struct SchemaFileTests {
    @Test("an encoded message has the keys its schema file lists", arguments: SchemaSample.all)
    func encodedMessageMatchesSchemaFile(_ sample: SchemaSample) throws {
        let schema = try Self.loadSchema(sample.file)
        let encoded = try sample.encode()
        let object = try #require(try JSONSerialization.jsonObject(with: encoded) as? [String: Any],
                                  "\(sample): the encoded message is not a JSON object")

        Self.checkKeys(object, against: schema, at: "message", in: sample.file)

        let properties = try #require(schema["properties"] as? [String: Any], "\(sample.file) has no properties")
        let schemaProperty = try #require(properties["schema"] as? [String: Any], "\(sample.file) does not describe schema")
        let const = try #require(schemaProperty["const"] as? String, "\(sample.file): properties.schema has no const")
        #expect(object["schema"] as? String == const)
        #expect(sample.schemaName == const)
        #expect(sample.file == sample.schemaName.replacingOccurrences(of: "/", with: ".") + ".schema.json")
    }

    @Test("every schema file is a JSON Schema of an object", arguments: SchemaSample.files)
    func schemaFileIsWellFormed(_ file: String) throws {
        let schema = try Self.loadSchema(file)
        #expect(schema["$schema"] as? String == "https://json-schema.org/draft/2020-12/schema")
        #expect((schema["$id"] as? String).map { !$0.isEmpty } == true, "\(file) has no $id")
        #expect((schema["title"] as? String).map { !$0.isEmpty } == true, "\(file) has no title")
        #expect(schema["type"] as? String == "object")
        #expect(schema["required"] is [String], "\(file) has no required array")
    }

    @Test("every schema file in docs/schemas has a sample message here")
    func everySchemaFileIsCovered() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.schemasFolder().path)
        let onDisk = Set(names.filter { $0.hasSuffix(".schema.json") })
        #expect(onDisk == Set(SchemaSample.files))
    }

    // MARK: helpers

    /// `docs/schemas` of the package this file belongs to: the folder holding Package.swift, found
    /// by walking up from this source file.
    static func schemasFolder() -> URL {
        var folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: folder.appendingPathComponent("Package.swift").path) {
            let parent = folder.deletingLastPathComponent()
            if parent.path == folder.path { break }
            folder = parent
        }
        return folder.appendingPathComponent("docs").appendingPathComponent("schemas")
    }

    static func loadSchema(_ file: String) throws -> [String: Any] {
        let data = try Data(contentsOf: schemasFolder().appendingPathComponent(file))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any], "\(file) is not a JSON object")
    }

    /// Records an issue for each required key of `schema` missing from `value` and each key of `value`
    /// that `schema` does not list, then checks nested objects and array items the same way.
    static func checkKeys(_ value: Any, against schema: [String: Any], at path: String, in file: String) {
        if let items = value as? [Any] {
            guard let itemSchema = schema["items"] as? [String: Any] else { return }
            for (index, item) in items.enumerated() {
                checkKeys(item, against: itemSchema, at: "\(path)[\(index)]", in: file)
            }
            return
        }
        guard let object = value as? [String: Any], let properties = schema["properties"] as? [String: Any] else { return }
        let required = schema["required"] as? [String] ?? []
        let missing = required.filter { object[$0] == nil }
        #expect(missing.isEmpty, "\(file): \(path) lacks required keys \(missing.sorted())")
        let unlisted = object.keys.filter { properties[$0] == nil }
        #expect(unlisted.isEmpty, "\(file): \(path) has keys the schema does not list: \(unlisted.sorted())")
        for (key, child) in object {
            if let childSchema = properties[key] as? [String: Any] {
                checkKeys(child, against: childSchema, at: "\(path).\(key)", in: file)
            }
        }
    }
}

/// A message value to encode and the schema file that describes it. Each message type has one
/// sample with every optional field set (so every key it can write is checked against
/// `properties`) and, where it has optional fields, one with none set (so `required` lists no
/// key the type may leave out).
struct SchemaSample: Sendable, CustomTestStringConvertible {
    let file: String
    let schemaName: String
    let variant: String
    let encode: @Sendable () throws -> Data

    var testDescription: String { "\(file) (\(variant))" }

    static var files: [String] {
        var seen: [String] = []
        for sample in all where !seen.contains(sample.file) { seen.append(sample.file) }
        return seen
    }

    static let all: [SchemaSample] = [
        SchemaSample(file: "payment-request.v1.schema.json", schemaName: PaymentRequestMessage.schemaName, variant: "all fields") {
            try Wire.encode(PaymentRequestMessage(
                type: "payment", requestId: "ord-1001-try-1", paymentId: "pay-1001", orderId: "ord-1001",
                payerId: "user-42", merchantId: "m-7", amount: 19_999, currency: "CNY", method: "alipay", channel: "mobile",
                settlement: SettlementTerms(mode: "installments", installments: 6),
                splits: [Split(partyId: "supplier-3", amount: 5_000)], settlementCurrency: "CNY",
                createdAt: "2026-11-24T10:00:00Z", metadata: .object(["cart": .string("c-1")]), locale: "en"))
        },
        SchemaSample(file: "payment-request.v1.schema.json", schemaName: PaymentRequestMessage.schemaName, variant: "repayment naming its payment") {
            try Wire.encode(PaymentRequestMessage(
                type: "repayment", requestId: "repay-1", payerId: "user-42", merchantId: nil, amount: 3_334, currency: "CNY",
                method: "online_banking", channel: "online_banking", repaysPaymentId: "pay-1001"))
        },
        SchemaSample(file: "payment-request.v1.schema.json", schemaName: PaymentRequestMessage.schemaName, variant: "required fields") {
            try Wire.encode(PaymentRequestMessage(
                requestId: "ord-1002-try-1", payerId: "user-43", merchantId: "m-7", amount: 5_000, currency: "CNY",
                method: "card", channel: "bank_card"))
        },
        SchemaSample(file: "payment-event.v1.schema.json", schemaName: PaymentEvent.schemaName, variant: "all fields") {
            try Wire.encode(PaymentEvent(
                eventId: "pe:user-42:pay-1001:2", sequence: 2, occurredAt: "2026-11-24T10:00:01.250Z", type: "payment.failed",
                paymentId: "pay-1001", requestId: "ord-1001-try-1", orderId: "ord-1001", payerId: "user-42",
                merchantId: "m-7", amount: 19_999, currency: "CNY", method: "alipay", channel: "mobile", status: "failed",
                reason: "insufficient_balance", message: "declined by the channel", channelReference: "sbx-alipay-3f2a9c",
                metadata: .object(["cart": .string("c-1")]), locale: "en"))
        },
        SchemaSample(file: "payment-event.v1.schema.json", schemaName: PaymentEvent.schemaName, variant: "nulls") {
            try Wire.encode(PaymentEvent(
                eventId: "rj:payments.requests:0:17", sequence: 1, occurredAt: "2026-11-24T10:00:01.250Z",
                type: "payment.rejected", paymentId: "unidentified-0-17", requestId: nil, orderId: nil, payerId: nil,
                merchantId: nil, amount: nil, currency: nil, method: nil, channel: nil, status: "rejected"))
        },
        SchemaSample(file: "channel-request.v1.schema.json", schemaName: ChannelRequest.schemaName, variant: "all fields") {
            try Wire.encode(ChannelRequest(
                requestType: "authorize", channelRequestId: "pay-1001:authorize", paymentId: "pay-1001", payerId: "user-42",
                merchantId: "m-7", amount: 19_999, currency: "CNY", method: "alipay", channel: "mobile",
                requestedAt: "2026-11-24T10:00:00.120Z"))
        },
        SchemaSample(file: "channel-notification.v1.schema.json", schemaName: ChannelNotificationRecord.schemaName, variant: "all fields") {
            try Wire.encode(ChannelNotificationRecord(channel: "wechat_pay", notificationId: "EV-1", receivedAt: "2026-12-06T05:47:01.123Z",
                                                      headers: ["wechatpay-serial": "PUB_KEY_ID_1"], body: Data("{}".utf8)))
        },
        SchemaSample(file: "channel-confirmation.v1.schema.json", schemaName: ChannelConfirmation.schemaName, variant: "all fields") {
            try Wire.encode(ChannelConfirmation(
                confirmationId: "cc-pay-1001:authorize", channelRequestId: "pay-1001:authorize", paymentId: "pay-1001",
                status: "declined", amount: 19_999, currency: "CNY", channelReference: "sbx-alipay-3f2a9c",
                reason: "insufficient_balance", message: "declined by the sandbox", confirmedAt: "2026-11-24T10:00:01.100Z"))
        },
        SchemaSample(file: "channel-confirmation.v1.schema.json", schemaName: ChannelConfirmation.schemaName, variant: "required fields") {
            try Wire.encode(ChannelConfirmation(
                confirmationId: "cc-pay-1001:authorize", channelRequestId: "pay-1001:authorize", paymentId: "pay-1001",
                status: "approved", amount: 19_999, currency: "CNY", channelReference: nil,
                confirmedAt: "2026-11-24T10:00:01.100Z"))
        },
        SchemaSample(file: "settlement-request.v1.schema.json", schemaName: SettlementRequest.schemaName, variant: "all fields") {
            try Wire.encode(SettlementRequest(
                eventId: "sr:user-42:pay-1001:capture", type: "capture", paymentId: "pay-1001", orderId: "ord-1001",
                payerId: "user-42", merchantId: "m-7", amount: 19_999, currency: "CNY", method: "alipay",
                settlement: SettlementTerms(mode: "installments", installments: 6),
                splits: [Split(partyId: "supplier-3", amount: 5_000)], settlementCurrency: "CNY",
                capturedAt: "2026-11-24T10:00:01.250Z", sourceEventId: "pe:user-42:pay-1001:2"))
        },
        SchemaSample(file: "settlement-request.v1.schema.json", schemaName: SettlementRequest.schemaName, variant: "repayment") {
            try Wire.encode(SettlementRequest(
                eventId: "sr:user-42:pay-1001:repayment:pay-repay-1", type: "repayment", paymentId: "pay-1001", orderId: "ord-1001",
                payerId: "user-42", merchantId: "m-7", amount: 3_334, currency: "CNY", method: "online_banking",
                settlement: SettlementTerms(mode: "installments", installments: 6), splits: [], settlementCurrency: nil,
                capturedAt: "2026-12-24T10:00:01.250Z", sourceEventId: "pe:user-42:pay-repay-1:2", repaymentId: "pay-repay-1", payerLocale: "en"))
        },
        SchemaSample(file: "settlement-request.v1.schema.json", schemaName: SettlementRequest.schemaName, variant: "required fields") {
            try Wire.encode(SettlementRequest(
                eventId: "sr:user-43:pay-1002:capture", type: "capture", paymentId: "pay-1002", orderId: nil,
                payerId: "user-43", merchantId: "m-7", amount: 5_000, currency: "CNY", method: "card",
                settlement: SettlementTerms(mode: "prepaid"), splits: [], settlementCurrency: nil,
                capturedAt: "2026-11-24T10:00:01.250Z", sourceEventId: "pe:user-43:pay-1002:2"))
        },
        SchemaSample(file: "settlement-event.v1.schema.json", schemaName: SettlementEvent.schemaName, variant: "all fields") {
            try Wire.encode(SettlementEvent(
                eventId: "se:user-42:pay-1001:booked", sequence: 1, occurredAt: "2026-11-24T10:00:01.400Z",
                type: "settlement.booked", paymentId: "pay-1001", orderId: "ord-1001", payerId: "user-42",
                merchantId: "m-7", amount: 19_999, currency: "CNY", fee: 120, commission: 0, net: 14_879,
                splits: [Split(partyId: "supplier-3", amount: 5_000)], settlementMode: "installments",
                sourceEventId: "sr:user-42:pay-1001:capture",
                pricing: SettlementPricing(feeBasisPoints: 60, feeFixed: 0, feeOnRefund: "return", commissionBasisPoints: 0, commissionFixed: 0),
                settlementCurrency: "USD", netSettled: 2_089, splitsSettled: [Split(partyId: "supplier-3", amount: 702)],
                fx: FXSnapshot(base: "CNY", quote: "USD", rate: "0.1404", source: "sample", asOf: "2026-11-24T00:00:00.000Z",
                               rounding: "half_even", sourceAmount: 19_879, convertedAmount: 2_791),
                availableOn: "2026-11-25", installmentFinancing: "upfront",
                installments: [InstallmentInfo(number: 1, dueDate: "2026-12-24", amount: 3_334, paid: 0, status: "scheduled", merchantShare: 0)],
                installment: InstallmentInfo(number: 1, dueDate: "2026-12-24", amount: 3_334, paid: 3_334, status: "paid"),
                reversedTotal: 0, outstanding: 16_665, reference: "pay-repay-1", payerLocale: "en"))
        },
        SchemaSample(file: "settlement-event.v1.schema.json", schemaName: SettlementEvent.schemaName, variant: "required fields") {
            try Wire.encode(SettlementEvent(
                eventId: "se:user-43:pay-1002:booked", sequence: 1, occurredAt: "2026-11-24T10:00:01.400Z",
                type: "settlement.booked", paymentId: "pay-1002", orderId: nil, payerId: "user-43",
                merchantId: "m-7", amount: 5_000, currency: "CNY", fee: 30, commission: 0, net: 4_970,
                splits: [], settlementMode: "prepaid", sourceEventId: "sr:user-43:pay-1002:capture"))
        },
        SchemaSample(file: "payout-request.v1.schema.json", schemaName: PayoutRequest.schemaName, variant: "all fields") {
            try Wire.encode(PayoutRequest(requestType: "pay", payoutId: "po:m-7:12", batchId: "b:m-7:12", payeeId: "supplier-3",
                                          payeeRole: "supplier", merchantId: "m-7", amount: 5_000, currency: "CNY", payoutDate: "2026-12-01",
                                          requestedAt: "2026-11-30T16:00:00.410Z"))
        },
        SchemaSample(file: "payout-confirmation.v1.schema.json", schemaName: PayoutConfirmation.schemaName, variant: "all fields") {
            try Wire.encode(PayoutConfirmation(confirmationId: "bc-po:m-7:12:return", payoutId: "po:m-7:12", status: "returned", amount: 9_810,
                                               currency: "CNY", reason: "account_closed", bankReference: "bank-12ab", requestType: "return",
                                               confirmedAt: "2026-12-03T09:00:00.000Z"))
        },
        SchemaSample(file: "payout-confirmation.v1.schema.json", schemaName: PayoutConfirmation.schemaName, variant: "required fields") {
            try Wire.encode(PayoutConfirmation(confirmationId: "bc-po:m-7:12:pay", payoutId: "po:m-7:12", status: "paid", amount: 9_810,
                                               currency: "CNY", requestType: "pay", confirmedAt: "2026-12-01T09:00:00.000Z"))
        },
        SchemaSample(file: "statement-line.v1.schema.json", schemaName: StatementLine.schemaName, variant: "all fields") {
            try Wire.encode(StatementLine(lineId: "wechat_pay:4200001:refund:5030001", source: "wechat_pay", method: "wechat_pay",
                                          day: "2026-11-30", channelReference: "4200001", paymentId: "pay-1001", type: "refund", amount: 500,
                                          currency: "CNY", fee: 3, refundReference: "5030001"))
        },
        SchemaSample(file: "statement-line.v1.schema.json", schemaName: StatementLine.schemaName, variant: "required fields") {
            try Wire.encode(StatementLine(lineId: "sandbox:sbx-card-1:payment", source: "sandbox", method: "card", day: "2026-11-30",
                                          channelReference: "sbx-card-1", paymentId: "pay-1001", type: "payment", amount: 19_999,
                                          currency: "CNY", fee: 110))
        },
        SchemaSample(file: "reconciliation-result.v1.schema.json", schemaName: ReconciliationResultMessage.schemaName, variant: "all fields") {
            let movement = ExpectedMovement(paymentId: "pay-1001", type: "payment", amount: 19_999, currency: "CNY", status: "captured",
                                            expectedFee: 110, at: Date(timeIntervalSince1970: 1_796_000_000))
            let line = StatementLine(lineId: "sandbox:sbx-card-1:payment", source: "sandbox", method: "card", day: "2026-11-30",
                                     channelReference: "sbx-card-1", paymentId: "pay-1001", type: "payment", amount: 19_999, currency: "CNY",
                                     fee: 120, refundReference: "r-1")
            return try Wire.encode(ReconciliationResultMessage(
                eventId: "rc:payment:pay-1001:2", itemId: "payment:pay-1001", revision: 2, occurredAt: "2026-12-01T01:00:00.000Z",
                state: "fee_mismatch", paymentId: "pay-1001", type: "payment", day: "2026-11-30", method: "card",
                expected: .init(movement), line: line, detail: "expected fee 110, the channel charged 120"))
        },
        SchemaSample(file: "reconciliation-result.v1.schema.json", schemaName: ReconciliationResultMessage.schemaName, variant: "required fields") {
            try Wire.encode(ReconciliationResultMessage(
                eventId: "rc:line:sandbox:x:payment:1", itemId: "line:sandbox:x:payment", revision: 1, occurredAt: "2026-12-01T01:00:00.000Z",
                state: "pending", paymentId: "pay-1001", type: "payment", day: "2026-11-30", method: nil, expected: nil, line: nil,
                detail: "not recorded by us yet; inside the window"))
        },
        SchemaSample(file: "payout-event.v1.schema.json", schemaName: PayoutEvent.schemaName, variant: "all fields") {
            try Wire.encode(PayoutEvent(eventId: "b:m-7:12:1", sequence: 1, occurredAt: "2026-11-30T16:00:00.410Z", type: "batch.closed",
                                        batchId: "b:m-7:12", payoutId: "po:m-7:12", payeeId: "m-7", payeeRole: "merchant", merchantId: "m-7",
                                        amount: 9_029, currency: "CNY", payoutDate: "2026-12-01", status: "closed", reason: "none",
                                        lines: [PayoutLine(kind: "release", amount: 9_810, paymentId: "pay-1001", payerId: "user-42",
                                                           reference: nil, availableOn: "2026-12-01"),
                                                PayoutLine(kind: "refund", amount: -781, paymentId: "pay-1000", payerId: "user-42",
                                                           reference: "sr:user-42:pay-1000:refund:r-1", availableOn: "2026-11-30")]))
        },
        SchemaSample(file: "payout-event.v1.schema.json", schemaName: PayoutEvent.schemaName, variant: "required fields") {
            try Wire.encode(PayoutEvent(eventId: "b:m-7:13:1", sequence: 1, occurredAt: "2026-12-01T16:00:00.410Z", type: "batch.closed",
                                        batchId: "b:m-7:13", payoutId: nil, payeeId: "m-7", payeeRole: "merchant", merchantId: "m-7",
                                        amount: -500, currency: "CNY", payoutDate: "2026-12-02", status: "held"))
        },
        SchemaSample(file: "notification.v1.schema.json", schemaName: NotificationMessage.schemaName, variant: "all fields") {
            try Wire.encode(NotificationMessage(
                eventId: "nt:pe:user-42:pay-1001:2:payer:user-42", sourceEventId: "pe:user-42:pay-1001:2", occurredAt: "2026-11-24T10:00:01.500Z",
                recipientId: "user-42", recipientType: "payer", type: "payment.captured", paymentId: "pay-1001",
                orderId: "ord-1001", amount: 19_999, currency: "CNY", locale: "zh-CN", title: "支付成功",
                body: "您的订单 ord-1001 已支付 ¥199.99"))
        },
        SchemaSample(file: "notification.v1.schema.json", schemaName: NotificationMessage.schemaName, variant: "required fields") {
            try Wire.encode(NotificationMessage(
                eventId: "nt:pe:user-43:pay-1002:2:payer:user-43", sourceEventId: "pe:user-43:pay-1002:2", occurredAt: "2026-11-24T10:00:01.500Z",
                recipientId: "user-43", recipientType: "payer", type: "payment.captured", paymentId: "pay-1002",
                orderId: nil, amount: 5_000, currency: "CNY", locale: "en", title: "Payment successful",
                body: "Your order pay-1002 has been paid: ¥50.00"))
        },
        SchemaSample(file: "dead-letter.v1.schema.json", schemaName: DeadLetterMessage.schemaName, variant: "all fields") {
            try Wire.encode(DeadLetterMessage(
                errorCode: "unknown_schema", errorMessage: "schema 'payment-request/v2' is not supported",
                sourceTopic: "payments.requests", sourcePartition: 3, sourceOffset: 1_042, originalKey: "user-42",
                originalValueBase64: Data(#"{"schema":"payment-request/v2"}"#.utf8).base64EncodedString(),
                failedAt: "2026-11-24T10:00:02.000Z", stage: "payment-worker"))
        },
        SchemaSample(file: "dead-letter.v1.schema.json", schemaName: DeadLetterMessage.schemaName, variant: "required fields") {
            try Wire.encode(DeadLetterMessage(
                errorCode: "undecodable", errorMessage: "value is not a JSON object with a schema field",
                sourceTopic: "channel.confirmations", sourcePartition: 0, sourceOffset: 0, originalKey: nil,
                originalValueBase64: Data("not json".utf8).base64EncodedString(), failedAt: "2026-11-24T10:00:02.000Z"))
        },
        SchemaSample(file: "merchant.v1.schema.json", schemaName: MerchantReference.schemaName, variant: "all fields") {
            try Wire.encode(MerchantReference(
                merchantId: "m-7", status: .active, settlementCurrency: "CNY",
                fees: ["card": .init(basisPoints: 60), "wechat_pay": .init(basisPoints: 55, fixed: 10, onRefund: "keep")],
                defaultFee: .init(basisPoints: 60, onRefund: "return"), commissionBasisPoints: 100,
                payout: .init(delayDays: 1, cutoff: "22:00", timeZone: "Asia/Shanghai", businessDays: true),
                suppliers: ["supplier-3"], installmentFinancing: "upfront", locale: "en", updatedAt: "2026-11-24T00:00:00Z"))
        },
        SchemaSample(file: "merchant.v1.schema.json", schemaName: MerchantReference.schemaName, variant: "required fields") {
            try Wire.encode(MerchantReference(merchantId: "m-13", status: .suspended, settlementCurrency: "CNY",
                                              payout: .init(delayDays: 2, cutoff: "18:00", timeZone: "Asia/Shanghai", businessDays: nil)))
        },
        SchemaSample(file: "credit-line.v1.schema.json", schemaName: CreditLineReference.schemaName, variant: "all fields") {
            try Wire.encode(CreditLineReference(payerId: "user-42", limits: ["CNY": 5_000_000, "USD": 500_000],
                                                installmentPlans: [3, 6, 12], updatedAt: "2026-11-24T00:00:00Z"))
        },
        SchemaSample(file: "credit-line.v1.schema.json", schemaName: CreditLineReference.schemaName, variant: "required fields") {
            try Wire.encode(CreditLineReference(payerId: "user-43", limits: [:]))
        },
        SchemaSample(file: "webhook-endpoint.v1.schema.json", schemaName: WebhookEndpointReference.schemaName, variant: "all fields") {
            try Wire.encode(WebhookEndpointReference(endpointId: "e-m7", ownerType: "merchant", ownerId: "m-7", url: "https://m7.example/hooks",
                                                     eventTypes: ["payment.captured"], enabled: false,
                                                     disabledReason: "answered 410 Gone at 2026-11-24T00:00:00.000Z",
                                                     updatedAt: "2026-11-24T00:00:00.000Z"))
        },
        SchemaSample(file: "webhook-endpoint.v1.schema.json", schemaName: WebhookEndpointReference.schemaName, variant: "required fields") {
            try Wire.encode(WebhookEndpointReference(endpointId: "e-s3", ownerType: "supplier", ownerId: "supplier-3", url: "http://127.0.0.1:8080/"))
        },
        SchemaSample(file: "webhook-dead-letter.v1.schema.json", schemaName: WebhookDeadLetter.schemaName, variant: "all fields") {
            try Wire.encode(WebhookDeadLetter(
                webhookId: "nt:pe:user-42:pay-1:2:merchant:m-7", endpointId: "e-m7", ownerType: "merchant", ownerId: "m-7",
                eventType: "payment.captured", reason: "attempts_exhausted",
                attempts: [WebhookAttemptRecord(attempt: 1, at: "2026-11-24T00:00:00.000Z", status: 429, error: nil, durationMs: 12, retryAfterSeconds: 30),
                           WebhookAttemptRecord(attempt: 2, at: "2026-11-24T00:00:31.000Z", status: nil, error: "timeout", durationMs: 15_000)],
                body: #"{"data":{},"timestamp":"2026-11-24T00:00:00.000Z","type":"payment.captured"}"#, deadLetteredAt: "2026-11-24T00:01:00.000Z"))
        },
        SchemaSample(file: "fx-rate.v1.schema.json", schemaName: FXRateReference.schemaName, variant: "all fields") {
            try Wire.encode(FXRateReference(base: "USD", quote: "CNY", rate: "7.1234", source: "sample", asOf: "2026-11-24T00:00:00Z"))
        },
    ]
}
