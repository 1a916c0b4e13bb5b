import Foundation
import PaystreamDomain

/// One movement on a channel's daily bill: a payment, or a refund of one.
public struct BillEntry: Sendable, Equatable {
    public enum Kind: String, Sendable { case payment, refund }

    public var kind: Kind
    /// When it completed.
    public var at: Date
    /// The channel's trade number (Alipay `trade_no`, WeChat Pay `transaction_id`).
    public var tradeNo: String
    /// Our number for the trade (`out_trade_no`): the merchant order number on the bill.
    public var outTradeNo: String
    /// Minor units (fen), positive.
    public var amount: Int64
    /// The channel's fee in fen (on a payment; 0 on a refund).
    public var fee: Int64
    public var subject: String
    /// A refund's numbers: the channel's, and ours (`out_request_no` / `out_refund_no`).
    public var refundId: String?
    public var outRefundNo: String?

    public init(kind: Kind, at: Date, tradeNo: String, outTradeNo: String, amount: Int64, fee: Int64, subject: String,
                refundId: String? = nil, outRefundNo: String? = nil) {
        self.kind = kind
        self.at = at
        self.tradeNo = tradeNo
        self.outTradeNo = outTradeNo
        self.amount = amount
        self.fee = fee
        self.subject = subject
        self.refundId = refundId
        self.outRefundNo = outRefundNo
    }
}

/// One line of the channel sandbox's daily statement.
public struct SandboxStatementRow: Sendable, Equatable {
    public var day: String
    public var channelReference: String
    public var paymentId: String
    public var amount: Int64
    public var currency: String
    public var fee: Int64
    /// `payment` or `refund`.
    public var type: String

    public init(day: String, channelReference: String, paymentId: String, amount: Int64, currency: String, fee: Int64, type: String) {
        self.day = day
        self.channelReference = channelReference
        self.paymentId = paymentId
        self.amount = amount
        self.currency = currency
        self.fee = fee
        self.type = type
    }
}

/// Writes statements and bills in the channels' own formats, as `StatementReader` reads them:
/// the sandbox's CSV (its statement files), and the Alipay and WeChat Pay bills the simulators
/// serve (a real channel's bill download gives the same files).
public enum StatementWriter {
    /// The sandbox's header line.
    public static let sandboxHeader = "date,channel_reference,payment_id,amount,currency,fee,type"

    /// The sandbox's CSV: the header, then one line per row, each ending in a newline (RFC 4180
    /// quoting).
    public static func sandbox(_ rows: [SandboxStatementRow]) -> String {
        var text = sandboxHeader + "\n"
        for row in rows {
            text += [row.day, row.channelReference, row.paymentId, String(row.amount), row.currency, String(row.fee), row.type]
                .map(csvField).joined(separator: ",") + "\n"
        }
        return text
    }

    /// RFC 4180 quoting: a field with a comma, quote or line break is quoted, quotes doubled.
    static func csvField(_ value: String) -> String {
        guard value.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static func yuan(_ fen: Int64) -> String { Money(minorUnits: fen, currency: AlipayAmount.currency).decimalString }

    /// Alipay's business detail export (业务明细): GBK, the table between `#` lines, identifiers
    /// with a trailing tab, refunds negative, the service fee negative on payments.
    public static func alipayBusinessDetail(_ entries: [BillEntry], day: String, account: String) -> Data {
        var lines = [
            "#支付宝业务明细查询",
            "#账号：[\(account)]",
            "#起始日期：[\(day) 00:00:00]   终止日期：[\(day) 23:59:59]",
            "#-----------------------------------------业务明细列表----------------------------------------",
            "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注",
        ]
        for entry in entries {
            let time = ChinaTime.format(entry.at)
            let refund = entry.kind == .refund
            let amount = refund ? "-" + yuan(entry.amount) : yuan(entry.amount)
            let fee = entry.fee == 0 ? "0.00" : (refund ? "" : "-") + yuan(entry.fee)
            let subject = entry.subject.replacingOccurrences(of: ",", with: " ")
            lines.append([
                "\(entry.tradeNo)\t", "\(entry.outTradeNo)\t", refund ? "退款\t" : "交易\t", "\(subject)\t", time, time,
                "\t", "\t", "\t", "\t", "\t", amount, amount, "0.00", "0.00", "0.00", "0.00", "0.00", "\t", "0.00", "0.00",
                "\(entry.outRefundNo ?? "")\t", fee, "0.00", "\t",
            ].joined(separator: ","))
        }
        let payments = entries.filter { $0.kind == .payment }.count
        lines += [
            "#-----------------------------------------业务明细列表结束------------------------------------",
            "#交易合计：\(payments)笔，退款合计：\(entries.count - payments)笔",
            "#导出时间：[\(ChinaTime.format(Date()))]",
        ]
        return GBK.encode(lines.joined(separator: "\n") + "\n") ?? Data()
    }

    /// WeChat Pay's trade bill of type ALL: every value prefixed with a backtick, yuan (fees to
    /// five decimals), refunds as their own rows, then the summary.
    public static func weChatTradeBill(_ entries: [BillEntry], appid: String, mchid: String) -> String {
        var lines = [
            "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注",
        ]
        func fee(_ fen: Int64) -> String {
            let text = yuan(abs(fen)) + "000"
            return (fen < 0 ? "-" : "") + text
        }
        var settled: Int64 = 0, refunded: Int64 = 0, fees: Int64 = 0
        for entry in entries {
            let time = ChinaTime.format(entry.at)
            let refund = entry.kind == .refund
            let subject = entry.subject.replacingOccurrences(of: ",", with: " ")
            let values = [
                time, appid, mchid, "0", "", entry.tradeNo, entry.outTradeNo, "oSimPayer", "NATIVE", refund ? "REFUND" : "SUCCESS",
                "OTHERS", "CNY", refund ? "0.00" : yuan(entry.amount), "0.00", refund ? entry.refundId ?? "" : "0",
                refund ? entry.outRefundNo ?? "" : "0", refund ? yuan(entry.amount) : "0.00", "0.00", refund ? "ORIGINAL" : "",
                refund ? "SUCCESS" : "", subject, "", fee(refund ? -entry.fee : entry.fee), "0.60%", refund ? "0.00" : yuan(entry.amount),
                refund ? yuan(entry.amount) : "0.00", "",
            ]
            lines.append(values.map { "`" + $0 }.joined(separator: ","))
            if refund { refunded += entry.amount } else { settled += entry.amount }
            fees += refund ? -entry.fee : entry.fee
        }
        lines.append("总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额")
        lines.append(["\(entries.count)", yuan(settled), yuan(refunded), "0.00", fee(fees), yuan(settled), yuan(refunded)]
            .map { "`" + $0 }.joined(separator: ","))
        return lines.joined(separator: "\n") + "\n"
    }
}
