import Foundation
import PaystreamRuntime

/// Who may do what on the broker: one principal per daemon, each granted exactly what its stage
/// declares (`StageTopology` → `BrokerAccess`), plus the people and systems around the fleet.
/// The daemons' topologies are stated here, without their configuration, for `paystream acl`;
/// a test builds each stage and requires the same topology, so the two cannot drift.
enum FleetAccess {
    /// Each daemon's topology, as its stage declares it.
    static func topologies(_ t: TopicNames) -> [StageTopology] {
        func plain(_ inputs: [String]) -> [String: String] { StageTopology.defaultRepartition(inputs, t) }
        return [
            StageTopology(stage: "payment-worker", inputs: [t.paymentRequests, t.channelConfirmations],
                          outputs: [t.paymentEvents, t.channelRequests, t.settlementRequests],
                          reference: [t.merchants, t.creditLines, t.fxRates],
                          repartition: plain([t.paymentRequests, t.channelConfirmations])),
            StageTopology(stage: "settlement-worker", inputs: [t.settlementRequests, t.payoutConfirmations],
                          outputs: [t.settlementEvents, t.payoutRequests],
                          reference: [t.merchants, t.creditLines, t.fxRates],
                          repartition: plain([t.settlementRequests, t.payoutConfirmations])),
            StageTopology(stage: "notifier", inputs: [t.paymentEvents, t.settlementEvents],
                          outputs: [t.notifications, t.webhookDeadLetters, t.webhookEndpoints],
                          reference: [t.merchants, t.webhookEndpoints],
                          repartition: plain([t.paymentEvents, t.settlementEvents])),
            StageTopology(stage: "reconciler", inputs: [t.paymentEvents, t.channelStatements],
                          outputs: [t.reconciliationResults],
                          repartition: [t.paymentEvents: t.repartition(of: t.paymentEvents, stage: "reconciler"),
                                        t.channelStatements: t.repartition(of: t.channelStatements)]),
            StageTopology(stage: "channel-sandbox", inputs: [t.channelRequests, t.payoutRequests],
                          outputs: [t.channelConfirmations, t.payoutConfirmations],
                          repartition: plain([t.channelRequests, t.payoutRequests])),
            StageTopology(stage: "channel-gateway", inputs: [t.channelRequests, t.channelNotifications],
                          outputs: [t.channelConfirmations], sideOutputs: [t.channelNotifications],
                          repartition: plain([t.channelRequests, t.channelNotifications])),
        ]
    }

    /// The consumer group a daemon joins by default (`group_id` in its configuration overrides it).
    static func group(of daemon: String, prefix: String) -> String { "\(prefix)paystream.\(daemon)" }

    /// Every principal's access: the six daemons, then the upstream order systems (write
    /// payment requests), reference data's owners, and the event consumers.
    static func matrix(topics: TopicNames, principalPrefix: String) -> [(who: String, access: BrokerAccess)] {
        var rows = topologies(topics).map { topology in
            (topology.stage, BrokerAccess(daemon: topology, topics: topics, group: group(of: topology.stage, prefix: topics.prefix),
                                          principal: "\(principalPrefix)\(topology.stage)"))
        }
        func grant(_ topics: [String], _ operations: Set<BrokerAccess.Operation>, to access: inout BrokerAccess) {
            for topic in topics { access.grants[.topic(topic), default: []].formUnion(operations) }
        }
        var upstream = BrokerAccess(principal: "\(principalPrefix)upstream")
        grant([topics.paymentRequests], [.write, .describe], to: &upstream)
        rows.append(("upstream order systems", upstream))
        var reference = BrokerAccess(principal: "\(principalPrefix)reference")
        grant(topics.reference, [.write, .describe], to: &reference)
        grant([topics.channelStatements], [.write, .describe], to: &reference)
        rows.append(("reference data and statements (paystream reference load, statements load)", reference))
        var consumers = BrokerAccess(principal: "\(principalPrefix)consumers")
        grant([topics.paymentEvents, topics.settlementEvents, topics.notifications, topics.reconciliationResults], [.read, .describe],
              to: &consumers)
        rows.append(("downstream consumers (their own groups besides)", consumers))
        return rows
    }
}
