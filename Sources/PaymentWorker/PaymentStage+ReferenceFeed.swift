import PaystreamRuntime

extension PaymentStage {
    /// A live lookup (`LiveReferenceData`) is kept current from the reference topics by the
    /// worker; fixed data (`StaticReferenceData`, for tests) needs no feed.
    public var referenceFeed: (any ReferenceFeed)? { reference as? any ReferenceFeed }
}
