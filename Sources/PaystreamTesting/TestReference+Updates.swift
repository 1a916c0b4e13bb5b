import PaystreamReference

extension TestReference {
    /// The standard test reference data as records for the reference topics (what
    /// `InProcessPipeline` seeds them with).
    public static var updates: [ReferenceUpdate] {
        merchants.map(ReferenceUpdate.merchant) + creditLines.map(ReferenceUpdate.creditLine)
            + fxRates.map(ReferenceUpdate.fxRate)
    }
}
