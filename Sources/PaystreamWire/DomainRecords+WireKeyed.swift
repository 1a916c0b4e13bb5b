import PaystreamDomain

// The domain's records that travel as they are (reference data, a request's settlement terms and
// splits, statement lines): their `CodingKeys` spell the snake_case wire names, so `Wire` codes
// them without key conversion. Declared here, beside the protocol, so that the domain does not
// depend on the wire module.
extension SettlementTerms: WireKeyed {}
extension Split: WireKeyed {}
extension MerchantReference: WireKeyed {}
extension CreditLineReference: WireKeyed {}
extension FXRateReference: WireKeyed {}
extension WebhookEndpointReference: WireKeyed {}
extension StatementLine: WireKeyed {}
