import ChannelGateway
import ChannelSandbox
import Foundation
import Notifier
@testable import PaystreamAdmin
import PaystreamReference
import PaystreamRuntime
import PaystreamTesting
import PaymentWorker
import ReconciliationWorker
import SettlementWorker
import Testing

/// One identity per daemon (issue 26, point 1): `paystream acl` grants each daemon's principal
/// what its stage declares, and nothing else; the matrix is held to the stages themselves and
/// to the topics `paystream topics create` makes, so neither can drift.
@Suite("broker access matrix")
struct AccessMatrixTests {
    static let topics = TopicNames(prefix: "acme.")

    /// Each daemon's stage, built as its daemon builds it.
    static func stages() throws -> [StageTopology] {
        let t = topics
        let state = try temporaryDirectory("acl")
        return [
            StageTopology(of: PaymentStage(topics: t, policy: try shippedPaymentPolicy(), reference: LiveReferenceData(topics: t),
                                            answers: .notChecked), topics: t),
            StageTopology(of: SettlementStage(topics: t, settings: try .init(), reference: LiveReferenceData(topics: t), answers: .notChecked), topics: t),
            StageTopology(of: NotifierStage(topics: t, templates: try shippedNotificationTemplates(),
                                            reference: LiveReferenceData(topics: t, kinds: NotifierStage.referenceKinds)), topics: t),
            StageTopology(of: ReconciliationStage(topics: t, settings: try .init()), topics: t),
            StageTopology(of: ChannelSandboxStage(topics: t, settings: .init(), stateDirectory: state, answerKeys: nil), topics: t),
            StageTopology(of: ChannelGatewayStage(topics: t, settings: GatewaySettings(), connectors: [], answerKeys: nil), topics: t),
        ]
    }

    @Test("the matrix's topology of every daemon is the one its stage declares")
    func matchesStages() throws {
        let declared = FleetAccess.topologies(Self.topics)
        let running = try Self.stages()
        #expect(declared.map(\.stage) == TopicNames.stages)
        for stage in running {
            let entry = try #require(declared.first { $0.stage == stage.stage }, "\(stage.stage) has no row")
            #expect(entry == stage, "\(stage.stage)")
        }
    }

    @Test("every topic a grant names exists in `paystream topics create`'s list, and every topic there is granted to someone")
    func matchesTopics() throws {
        let matrix = FleetAccess.matrix(topics: Self.topics, principalPrefix: "User:paystream-")
        let created = Set(Self.topics.all + Self.topics.reference)  // as `paystream topics create` makes them
        var granted = Set<String>()
        for (_, access) in matrix {
            for (resource, _) in access.bindings {
                guard case .topic(let name) = resource else { continue }
                #expect(created.contains(name), "\(access.principal) is granted \(name), which topics create does not make")
                granted.insert(name)
            }
        }
        #expect(created.subtracting(granted).isEmpty, "never granted: \(created.subtracting(granted).sorted())")
    }

    @Test("least privilege: what a daemon cannot do")
    func leastPrivilege() throws {
        let t = Self.topics
        let rows = Dictionary(uniqueKeysWithValues: FleetAccess.matrix(topics: t, principalPrefix: "User:paystream-")
            .map { ($0.access.principal, $0.access) })
        let payment = try #require(rows["User:paystream-payment-worker"])
        let notifier = try #require(rows["User:paystream-notifier"])
        let sandbox = try #require(rows["User:paystream-channel-sandbox"])
        let gateway = try #require(rows["User:paystream-channel-gateway"])
        let settlement = try #require(rows["User:paystream-settlement-worker"])
        let upstream = try #require(rows["User:paystream-upstream"])
        // Only the channel edges answer for the channels; only the bank edge for payouts.
        for (principal, access) in rows {
            let answers = access.allows(.write, on: .topic(t.channelConfirmations))
            #expect(answers == [sandbox.principal, gateway.principal].contains(principal), "\(principal) writes channel.confirmations")
            #expect(access.allows(.write, on: .topic(t.payoutConfirmations)) == (principal == sandbox.principal), "\(principal)")
        }
        // The internet-facing notifier touches no ledger: no money topic, no other stage's state.
        for topic in [t.paymentRequests, t.channelRequests, t.channelConfirmations, t.settlementRequests, t.payoutRequests,
                      t.payoutConfirmations, t.creditLines, t.fxRates, t.changelog(of: "payment-worker"),
                      t.changelog(of: "settlement-worker")] {
            #expect(!notifier.allows(.write, on: .topic(topic)) && !notifier.allows(.read, on: .topic(topic)), "notifier on \(topic)")
        }
        #expect(notifier.allows(.write, on: .topic(t.webhookEndpoints)), "the notifier disables a 410 endpoint")
        #expect(notifier.allows(.read, on: .topic(t.merchants)) && !notifier.allows(.write, on: .topic(t.merchants)))
        // No daemon writes reference data it decides with, nor reads another's changelog.
        for access in [payment, settlement] {
            for topic in t.reference { #expect(!access.allows(.write, on: .topic(topic)), "\(access.principal) writes \(topic)") }
        }
        #expect(!payment.allows(.read, on: .topic(t.changelog(of: "settlement-worker"))))
        #expect(payment.allows(.read, on: .group("acme.paystream.payment-worker")))
        #expect(!payment.allows(.read, on: .group("acme.paystream.settlement-worker")))
        // Upstream writes requests, nothing else.
        #expect(upstream.bindings.map { "\($0.resource.name):\($0.operation.rawValue)" } == ["acme.payments.requests:Describe",
                                                                                              "acme.payments.requests:Write"])
    }

    @Test("paystream acl prints bindings and kafka-acls.sh commands for every principal")
    func rendering() throws {
        let matrix = FleetAccess.matrix(topics: TopicNames(), principalPrefix: "User:paystream-")
        let bindings = AclCommand.render(matrix, format: .bindings, bootstrapServer: "b:9092")
        #expect(bindings.contains("(principal=User:paystream-payment-worker, host=*, operation=WRITE, permissionType=ALLOW) "
                                  + "ResourcePattern(resourceType=TOPIC, name=payments.events, patternType=LITERAL)"))
        #expect(bindings.contains("(principal=User:paystream-payment-worker, host=*, operation=READ, permissionType=ALLOW) "
                                  + "ResourcePattern(resourceType=GROUP, name=paystream.payment-worker, patternType=LITERAL)"))
        let commands = AclCommand.render(matrix, format: .commands, bootstrapServer: "b:9092")
        #expect(commands.contains("kafka-acls.sh --bootstrap-server b:9092 --command-config admin.properties --add "
                                  + "--allow-principal 'User:paystream-notifier' --operation Describe --operation Write --topic 'notifications'"))
        let table = AclCommand.render(matrix, format: .table, bootstrapServer: "")
        #expect(table.contains("# channel-gateway: User:paystream-channel-gateway"))
    }
}
