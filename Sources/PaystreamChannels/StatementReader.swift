import Foundation
import PaystreamDomain
#if canImport(Glibc)
import Glibc
#endif

/// Why a statement file could not be read: its line number (1-based, 0 for the whole file) and
/// what is wrong there.
public struct StatementReadError: Error, Sendable, Equatable, CustomStringConvertible {
    public let line: Int
    public let reason: String

    public init(line: Int, _ reason: String) {
        self.line = line
        self.reason = reason
    }

    public var description: String { line > 0 ? "line \(line): \(reason)" : reason }
}

/// Readers for the statement files channels publish. Each returns the statement's lines in file
/// order, or throws for the first thing it cannot read (nothing is half-read).
public enum StatementReader {
    // MARK: the sandbox's CSV

    /// The channel sandbox's daily file: `date,channel_reference,payment_id,amount,currency,fee,type`
    /// (RFC 4180 quoting), amounts in minor units, one file per method.
    public static func sandbox(_ text: String, method: String) throws(StatementReadError) -> [StatementLine] {
        let rows = csvRows(text)
        guard let header = rows.first?.fields, header == StatementWriter.sandboxHeader.split(separator: ",").map(String.init) else {
            throw StatementReadError(line: 1, "not a sandbox statement: the header is not date,channel_reference,payment_id,amount,currency,fee,type")
        }
        var lines: [StatementLine] = []
        for row in rows.dropFirst() where !(row.fields.count == 1 && row.fields[0].isEmpty) {
            let f = row.fields
            guard f.count == 7 else { throw StatementReadError(line: row.number, "\(f.count) fields, expected 7") }
            guard let amount = Int64(f[3]), amount > 0, let fee = Int64(f[5]), fee >= 0 else {
                throw StatementReadError(line: row.number, "amount '\(f[3])' or fee '\(f[5])' is not a whole number of minor units")
            }
            guard f[6] == "payment" || f[6] == "refund" else { throw StatementReadError(line: row.number, "type '\(f[6])' is not payment or refund") }
            guard Currency.named(f[4]) != nil else { throw StatementReadError(line: row.number, "currency '\(f[4])' is not ISO 4217") }
            lines.append(StatementLine(lineId: "sandbox:\(f[1]):\(f[6])", source: "sandbox", method: method, day: f[0], channelReference: f[1],
                                       paymentId: f[2], type: f[6], amount: amount, currency: f[4], fee: fee))
        }
        return lines
    }

    // MARK: WeChat Pay trade bill (type ALL)

    /// WeChat Pay's trade bill of type ALL: a header row naming the columns (found by name, in any
    /// order), data rows whose every value is prefixed with a backtick, amounts in yuan, then a
    /// summary block (its own header, `总交易单数,…`, and one row of totals) that is checked against
    /// the rows read. A `SUCCESS` row is a payment; a `REFUND` row is a refund of `退款金额`.
    public static func wechatPay(_ text: String) throws(StatementReadError) -> [StatementLine] {
        let rows = csvRows(text)
        guard let header = rows.first?.fields.map(clean) else { throw StatementReadError(line: 0, "empty file") }
        func column(_ name: String) throws(StatementReadError) -> Int {
            guard let index = header.firstIndex(of: name) else { throw StatementReadError(line: 1, "no column '\(name)' in the header") }
            return index
        }
        let time = try column("交易时间"), reference = try column("微信订单号"), order = try column("商户订单号")
        let status = try column("交易状态"), currencyColumn = try column("货币种类"), settled = try column("应结订单金额")
        let refundReference = try column("微信退款单号"), refundAmount = try column("退款金额"), feeColumn = try column("手续费")
        var lines: [StatementLine] = []
        var index = 1
        var summary: (count: Int, refunds: Int64?)?
        while index < rows.count {
            let row = rows[index]
            let fields = row.fields.map(clean)
            index += 1
            if fields.count == 1 && fields[0].isEmpty { continue }
            if fields.first == "总交易单数" {
                // The summary: one row of totals under its header, then the file ends.
                guard index < rows.count else { throw StatementReadError(line: row.number, "a summary header without its totals") }
                let totals = rows[index].fields.map(clean)
                let names = fields
                func total(_ name: String) -> String? { names.firstIndex(of: name).flatMap { $0 < totals.count ? totals[$0] : nil } }
                guard let count = total("总交易单数").flatMap({ Int($0) }) else {
                    throw StatementReadError(line: rows[index].number, "the summary has no 总交易单数")
                }
                summary = (count, try total("退款总金额").map { value throws(StatementReadError) in
                    try yuan(value, currency: Currency.named("CNY")!, line: rows[index].number)
                })
                break
            }
            guard fields.count >= header.count else {
                throw StatementReadError(line: row.number, "\(fields.count) fields, the header has \(header.count)")
            }
            guard let currency = Currency.named(fields[currencyColumn].isEmpty ? "CNY" : fields[currencyColumn]) else {
                throw StatementReadError(line: row.number, "currency '\(fields[currencyColumn])' is not ISO 4217")
            }
            let day = String(fields[time].prefix(10))
            guard LocalDate(day) != nil else { throw StatementReadError(line: row.number, "交易时间 '\(fields[time])' is not a time") }
            let fee = try yuan(fields[feeColumn], currency: currency, line: row.number, rounding: true)
            switch fields[status] {
            case "SUCCESS":
                lines.append(StatementLine(
                    lineId: "wechat_pay:\(fields[reference]):payment", source: "wechat_pay", method: "wechat_pay", day: day,
                    channelReference: fields[reference], paymentId: fields[order], type: "payment",
                    amount: try yuan(fields[settled], currency: currency, line: row.number), currency: currency.code, fee: fee))
            case "REFUND":
                let refund = fields[refundReference]
                lines.append(StatementLine(
                    lineId: "wechat_pay:\(fields[reference]):refund:\(refund)", source: "wechat_pay", method: "wechat_pay", day: day,
                    channelReference: fields[reference], paymentId: fields[order], type: "refund",
                    amount: try yuan(fields[refundAmount], currency: currency, line: row.number), currency: currency.code,
                    fee: abs(fee), refundReference: refund.isEmpty ? nil : refund))
            case let other:
                throw StatementReadError(line: row.number, "交易状态 '\(other)' is neither SUCCESS nor REFUND")
            }
        }
        guard let summary else { throw StatementReadError(line: 0, "no summary block (总交易单数) at the end: the file is cut short") }
        guard summary.count == lines.count else {
            throw StatementReadError(line: 0, "the summary counts \(summary.count) rows, the file has \(lines.count)")
        }
        if let refunds = summary.refunds {
            let read = lines.filter { $0.type == "refund" }.reduce(Int64(0)) { $0 + $1.amount }
            guard read == refunds else { throw StatementReadError(line: 0, "the summary's refunds total \(refunds), the rows \(read)") }
        }
        return lines
    }

    // MARK: Alipay business detail

    /// Alipay's business detail export (业务明细): GBK-encoded CSV whose table sits between `#`
    /// header and footer lines, identifiers padded with a trailing tab, amounts in yuan, refunds
    /// (业务类型 `退款`) negative, the service fee (服务费) negative.
    public static func alipay(_ data: Data) throws(StatementReadError) -> [StatementLine] {
        guard let text = GBK.decode(data) else { throw StatementReadError(line: 0, "not GBK text") }
        let rows = csvRows(text).filter { !($0.fields.first ?? "").hasPrefix("#") && !($0.fields.count == 1 && $0.fields[0].isEmpty) }
        guard let headerRow = rows.first else { throw StatementReadError(line: 0, "no table between the # lines") }
        let header = headerRow.fields.map(clean)
        func column(_ name: String) throws(StatementReadError) -> Int {
            guard let index = header.firstIndex(of: name) else { throw StatementReadError(line: headerRow.number, "no column '\(name)' in the header") }
            return index
        }
        let reference = try column("支付宝交易号"), order = try column("商户订单号"), kind = try column("业务类型")
        let finished = try column("完成时间"), amountColumn = try column("订单金额（元）"), feeColumn = try column("服务费（元）")
        let refundColumn = try column("退款批次号/请求号")
        let cny = Currency.named("CNY")!
        var lines: [StatementLine] = []
        for row in rows.dropFirst() {
            let fields = row.fields.map(clean)
            guard fields.count >= header.count - 1 else {
                throw StatementReadError(line: row.number, "\(fields.count) fields, the header has \(header.count)")
            }
            func field(_ index: Int) -> String { index < fields.count ? fields[index] : "" }
            let amount = try yuan(field(amountColumn), currency: cny, line: row.number)
            let fee = try yuan(field(feeColumn).isEmpty ? "0" : field(feeColumn), currency: cny, line: row.number, rounding: true)
            let day = String(field(finished).prefix(10))
            guard LocalDate(day) != nil else { throw StatementReadError(line: row.number, "完成时间 '\(field(finished))' is not a time") }
            switch field(kind) {
            case "交易":
                guard amount > 0 else { throw StatementReadError(line: row.number, "a 交易 row of \(amount)") }
                lines.append(StatementLine(lineId: "alipay:\(field(reference)):payment", source: "alipay", method: "alipay", day: day,
                                           channelReference: field(reference), paymentId: field(order), type: "payment", amount: amount,
                                           currency: "CNY", fee: abs(fee)))
            case "退款":
                guard amount < 0 else { throw StatementReadError(line: row.number, "a 退款 row must be negative, is \(amount)") }
                let refund = field(refundColumn)
                lines.append(StatementLine(lineId: "alipay:\(field(reference)):refund:\(refund)", source: "alipay", method: "alipay", day: day,
                                           channelReference: field(reference), paymentId: field(order), type: "refund", amount: -amount,
                                           currency: "CNY", fee: abs(fee), refundReference: refund.isEmpty ? nil : refund))
            case let other:
                throw StatementReadError(line: row.number, "业务类型 '\(other)' is neither 交易 nor 退款")
            }
        }
        return lines
    }

    // MARK: helpers

    /// `yuan` for tests and tools: `fee` rounds extra decimals half up instead of refusing them.
    public static func parseYuan(_ text: String, currency: Currency, fee: Bool) throws(StatementReadError) -> Int64 {
        try yuan(text, currency: currency, line: 0, rounding: fee)
    }

    /// A field without the WeChat backtick, the Alipay trailing tab, and surrounding spaces.
    static func clean(_ field: String) -> String {
        var text = Substring(field)
        while let first = text.first, first == " " || first == "\u{FEFF}" { text = text.dropFirst() }
        if text.first == "`" { text = text.dropFirst() }
        return text.trimmingCharacters(in: .whitespaces.union(CharacterSet(charactersIn: "\t")))
    }

    /// Yuan (a decimal string, maybe signed) in minor units of `currency`. More decimals than the
    /// currency has are refused, except for fees (`rounding`), which channels show with more
    /// (WeChat: 5): those round half up to the minor unit.
    static func yuan(_ text: String, currency: Currency, line: Int, rounding: Bool = false) throws(StatementReadError) -> Int64 {
        var digits = Substring(text)
        let negative = digits.first == "-"
        if negative || digits.first == "+" { digits = digits.dropFirst() }
        let parts = digits.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, !whole.isEmpty, whole.allSatisfy(\.isASCII), whole.allSatisfy(\.isNumber),
              parts.count == 1 || (parts[1].allSatisfy(\.isASCII) && parts[1].allSatisfy(\.isNumber)), let units = Int64(whole) else {
            throw StatementReadError(line: line, "'\(text)' is not an amount in yuan")
        }
        var fraction = parts.count == 2 ? String(parts[1]) : ""
        let scale = currency.minorUnits
        var roundUp = false
        if fraction.count > scale {
            let dropped = fraction.dropFirst(scale)
            guard rounding || dropped.allSatisfy({ $0 == "0" }) else {
                throw StatementReadError(line: line, "'\(text)' has more decimals than \(currency.code) allows")
            }
            roundUp = rounding && (dropped.first.map { $0 >= "5" } ?? false)
            fraction = String(fraction.prefix(scale))
        }
        fraction += String(repeating: "0", count: scale - fraction.count)
        var factor: Int64 = 1
        for _ in 0..<scale { factor *= 10 }
        let (scaled, overflow) = units.multipliedReportingOverflow(by: factor)
        guard !overflow, let small = Int64(fraction.isEmpty ? "0" : fraction) else { throw StatementReadError(line: line, "'\(text)' is too large") }
        let value = scaled + small + (roundUp ? 1 : 0)
        return negative ? -value : value
    }

    /// RFC 4180 rows with their 1-based line numbers (a quoted field may span lines).
    static func csvRows(_ text: String) -> [(number: Int, fields: [String])] {
        var rows: [(Int, [String])] = []
        var fields: [String] = []
        var field = ""
        var quoted = false
        var line = 1, rowStart = 1
        var iterator = text.makeIterator()
        var pending: Character?
        while let c = pending ?? iterator.next() {
            pending = nil
            if quoted {
                if c == "\"" {
                    if let next = iterator.next() {
                        if next == "\"" { field.append("\"") } else { quoted = false; pending = next }
                    } else { quoted = false }
                } else {
                    if c == "\n" || c == "\r\n" { line += 1 }
                    field.append(c)
                }
                continue
            }
            switch c {
            case "\"" where field.isEmpty: quoted = true
            case ",": fields.append(field); field = ""
            case "\n", "\r\n", "\r":
                fields.append(field); field = ""
                rows.append((rowStart, fields)); fields = []
                line += 1; rowStart = line
            default: field.append(c)
            }
        }
        if !field.isEmpty || !fields.isEmpty { fields.append(field); rows.append((rowStart, fields)) }
        return rows
    }
}

/// GBK (GB 18030's two-byte subset, as Alipay exports it) through the C library's iconv.
public enum GBK {
    public static func decode(_ data: Data) -> String? {
        convert(data, from: "GB18030", to: "UTF-8").flatMap { String(data: $0, encoding: .utf8) }
    }

    /// For building sample files: UTF-8 text as GBK bytes.
    public static func encode(_ text: String) -> Data? {
        convert(Data(text.utf8), from: "UTF-8", to: "GBK")
    }

    static func convert(_ data: Data, from: String, to: String) -> Data? {
        #if canImport(Glibc)
        let descriptor = iconv_open(to, from)
        guard descriptor != iconv_t(bitPattern: -1) else { return nil }
        defer { iconv_close(descriptor) }
        var input = [CChar](repeating: 0, count: data.count)
        data.withUnsafeBytes { bytes in
            for (index, byte) in bytes.enumerated() { input[index] = CChar(bitPattern: byte) }
        }
        var output = [CChar](repeating: 0, count: data.count * 4 + 16)
        let produced: Int? = input.withUnsafeMutableBufferPointer { inBuffer in
            output.withUnsafeMutableBufferPointer { outBuffer in
                var inPointer: UnsafeMutablePointer<CChar>? = inBuffer.baseAddress
                var inLeft = inBuffer.count
                var outPointer: UnsafeMutablePointer<CChar>? = outBuffer.baseAddress
                var outLeft = outBuffer.count
                let result = iconv(descriptor, &inPointer, &inLeft, &outPointer, &outLeft)
                guard result != -1 || inLeft == 0 else { return nil }
                return outBuffer.count - outLeft
            }
        }
        guard let produced else { return nil }
        return Data(output.prefix(produced).map { UInt8(bitPattern: $0) })
        #else
        return nil
        #endif
    }
}
