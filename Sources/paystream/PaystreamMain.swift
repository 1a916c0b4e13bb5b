import ArgumentParser
import PaystreamAdmin

@main
extension PaystreamCommand {}
