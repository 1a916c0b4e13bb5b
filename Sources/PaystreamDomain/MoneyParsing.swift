extension Money {
    /// Reads an amount that names its currency: "¥199.99", "$-2.50", "CNY 199.99", "199.99 CNY",
    /// "JPY 500". Everything `formatted` writes reads back to the same value.
    ///
    /// The rules, so that no text is ever read as a different amount than the writer meant:
    /// - A code is three letters set apart by whitespace, before or after the number; it must be an
    ///   active code with minor units (`Currency.named`), else `unknownCurrency`. Case matters.
    /// - A symbol goes right before the number, optionally after a "-" ("-$2.50" or "$-2.50"). Every
    ///   symbol in the table names one currency: "$" is USD, "¥" is CNY, "JP¥" is JPY.
    /// - The number is ASCII digits with an optional "-" and an optional "." followed by digits. No
    ///   "+", no grouping separators ("1,000"), no ".5" or "5.", no exponent.
    /// - Digits past the currency's minor units must be zeros ("1.230 CNY" is 123, "500.00 JPY" is
    ///   500), else `tooPrecise`: a value is never rounded here.
    /// - An amount beyond 64-bit minor units throws `overflow`; nothing traps.
    public static func parse(_ text: String) throws(MoneyError) -> Money {
        let written = try WrittenAmount(text)
        guard let currency = written.currency else {
            throw .invalidAmount("'\(text)' names no currency: write a code (\"CNY 199.99\") or a symbol")
        }
        return try written.money(in: currency)
    }

    /// Reads an amount in `currency`: a bare number ("199.99"), or one written with a code or symbol
    /// as `parse(_:)` reads it, which must then be `currency` (else `currencyMismatch`).
    public static func parse(_ text: String, currency: Currency) throws(MoneyError) -> Money {
        let written = try WrittenAmount(text)
        if let named = written.currency, named.code != currency.code {
            throw .currencyMismatch(currency.code, named.code)
        }
        return try written.money(in: currency)
    }
}

/// Text split into an optional currency and an unchecked number.
private struct WrittenAmount {
    let text: String
    let currency: Currency?
    let number: Substring

    init(_ text: String) throws(MoneyError) {
        self.text = text
        let trimmed = text[...].trimmingWhitespace()
        guard !trimmed.isEmpty else { throw .invalidAmount("empty text is not an amount") }

        // Both ends can look like a code ("NaN CNY"); the one that is a currency is the code.
        let codes = [Self.leadingCode(trimmed), Self.trailingCode(trimmed)].compactMap { $0 }
        if let first = codes.first {
            guard let (currency, rest) = codes.lazy.compactMap({ code, rest in
                Currency.named(String(code)).map { ($0, rest) }
            }).first else { throw .unknownCurrency(String(first.0)) }
            self.currency = currency
            number = rest.trimmingWhitespace()
            return
        }

        let signed = trimmed.first == "-"
        let unsigned = signed ? trimmed.dropFirst() : trimmed
        if let symbol = Self.symbolsLongestFirst.first(where: { unsigned.hasPrefix($0) }) {
            let rest = unsigned.dropFirst(symbol.count).trimmingWhitespace()
            if signed {
                guard rest.first != "-" else { throw .invalidAmount("'\(text)' has two minus signs") }
                number = "-" + rest
            } else {
                number = rest
            }
            currency = Currency.withSymbol(symbol)
            return
        }
        currency = nil
        number = trimmed
    }

    /// The number in minor units of `currency`.
    func money(in currency: Currency) throws(MoneyError) -> Money {
        let bytes = Array(number.utf8)
        var index = 0
        let negative = bytes.first == UInt8(ascii: "-")
        if negative { index += 1 }
        let wholeStart = index
        while index < bytes.count, bytes[index].isASCIIDigit { index += 1 }
        let whole = bytes[wholeStart..<index]
        var fraction = bytes[index..<index]
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            let fractionStart = index + 1
            index = fractionStart
            while index < bytes.count, bytes[index].isASCIIDigit { index += 1 }
            fraction = bytes[fractionStart..<index]
            guard !fraction.isEmpty else { throw .invalidAmount("'\(text)' has no digits after the point") }
        }
        guard !whole.isEmpty, index == bytes.count else { throw .invalidAmount("'\(text)' is not an amount") }

        let digits = max(currency.minorUnits, 0)
        guard fraction.dropFirst(digits).allSatisfy({ $0 == UInt8(ascii: "0") }) else {
            throw .tooPrecise(text, currency: currency.code, minorUnits: digits)
        }
        // Accumulate the magnitude as unsigned so that Int64.min, whose magnitude Int64 cannot
        // hold, still reads back.
        var magnitude: UInt64 = 0
        func append(_ digit: UInt8) throws(MoneyError) {
            let (shifted, o1) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, o2) = shifted.addingReportingOverflow(UInt64(digit - UInt8(ascii: "0")))
            guard !o1, !o2 else { throw .overflow }
            magnitude = sum
        }
        for digit in whole { try append(digit) }
        for digit in fraction.prefix(digits) { try append(digit) }
        for _ in fraction.count..<max(digits, fraction.count) { try append(UInt8(ascii: "0")) }

        let limit = negative ? Int64.min.magnitude : UInt64(Int64.max)
        guard magnitude <= limit else { throw .overflow }
        let value = negative ? (magnitude == Int64.min.magnitude ? Int64.min : -Int64(magnitude)) : Int64(magnitude)
        return Money(minorUnits: value, currency: currency)
    }

    private static let symbolsLongestFirst: [String] =
        Currency.all.compactMap(\.symbol).sorted { $0.count != $1.count ? $0.count > $1.count : $0 < $1 }

    /// "CNY 199.99" → ("CNY", " 199.99").
    private static func leadingCode(_ text: Substring) -> (Substring, Substring)? {
        let code = text.prefix(3)
        guard code.count == 3, code.allSatisfy(\.isASCIILetter),
              let separator = text.dropFirst(3).first, separator.isWhitespace else { return nil }
        return (code, text.dropFirst(3))
    }

    /// "199.99 CNY" → ("CNY", "199.99 ").
    private static func trailingCode(_ text: Substring) -> (Substring, Substring)? {
        let code = text.suffix(3)
        guard code.count == 3, code.allSatisfy(\.isASCIILetter),
              let separator = text.dropLast(3).last, separator.isWhitespace else { return nil }
        return (code, text.dropLast(3))
    }
}

private extension Substring {
    func trimmingWhitespace() -> Substring {
        guard let first = firstIndex(where: { !$0.isWhitespace }),
              let last = lastIndex(where: { !$0.isWhitespace }) else { return self[endIndex...] }
        return self[first...last]
    }
}

private extension Character {
    var isASCIILetter: Bool { isASCII && isLetter }
}

private extension UInt8 {
    var isASCIIDigit: Bool { self >= UInt8(ascii: "0") && self <= UInt8(ascii: "9") }
}
