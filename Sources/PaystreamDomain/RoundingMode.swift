/// How a quotient that is not whole becomes an integer. Each rule in the domain names the mode it
/// uses (see docs/money-rules.md):
/// - `halfEven` (banker's rounding): ties go to the even neighbour; used where many roundings
///   add up (FX conversion), so they do not drift one way.
/// - `halfUp`: ties go away from zero; used for fees and interest, as merchants' contracts say.
/// - `down`: toward zero (truncation); used where a remainder is placed explicitly afterwards
///   (allocation, installments).
public enum RoundingMode: String, Sendable, Hashable, CaseIterable, Codable {
    case halfEven = "half_even"
    case halfUp = "half_up"
    case down
}

extension RoundingMode {
    /// `numerator / denominator` rounded with this mode. Throws on a zero denominator or when the
    /// result does not fit (only `Int64.min / -1`).
    public func divide(_ numerator: Int64, by denominator: Int64) throws(MoneyError) -> Int64 {
        guard denominator != 0 else { throw .divisionByZero }
        let (quotient, qOverflow) = numerator.dividedReportingOverflow(by: denominator)
        guard !qOverflow else { throw .overflow }
        let remainder = numerator % denominator
        return try adjust(quotient: quotient, remainder: remainder.magnitude, divisor: denominator.magnitude,
                          negative: (numerator < 0) != (denominator < 0))
    }

    /// `a × b / denominator` rounded with this mode, with a 128-bit intermediate product, so that
    /// `amount × rate / scale` cannot overflow before the division.
    public func multiplyDivide(_ a: Int64, _ b: Int64, by denominator: Int64) throws(MoneyError) -> Int64 {
        guard denominator != 0 else { throw .divisionByZero }
        let negative = (a < 0) != (b < 0) && a != 0 && b != 0
        let product = a.magnitude.multipliedFullWidth(by: b.magnitude)
        let divisor = denominator.magnitude
        guard product.high < divisor else { throw .overflow }  // quotient would not fit in 64 bits
        let (q, r) = divisor.dividingFullWidth(product)
        guard q <= UInt64(Int64.max) + (negative != (denominator < 0) ? 1 : 0) else { throw .overflow }
        let signNegative = negative != (denominator < 0)
        let signedQuotient: Int64 = signNegative ? (q == UInt64(Int64.max) + 1 ? .min : -Int64(q)) : Int64(q)
        return try adjust(quotient: signedQuotient, remainder: r, divisor: divisor, negative: signNegative)
    }

    /// Moves a truncated quotient one step away from zero when the mode says so.
    private func adjust(quotient: Int64, remainder: UInt64, divisor: UInt64, negative: Bool) throws(MoneyError) -> Int64 {
        guard remainder != 0 else { return quotient }
        let awayFromZero: Bool
        switch self {
        case .down:
            awayFromZero = false
        case .halfUp:
            awayFromZero = remainder >= divisor - remainder
        case .halfEven:
            let twice = remainder.multipliedReportingOverflow(by: 2)
            if twice.overflow || twice.partialValue > divisor { awayFromZero = true }
            else if twice.partialValue < divisor { awayFromZero = false }
            else { awayFromZero = quotient % 2 != 0 }
        }
        guard awayFromZero else { return quotient }
        return try checked(negative ? quotient.subtractingReportingOverflow(1) : quotient.addingReportingOverflow(1))
    }
}
