import ArgumentParser
import Foundation
import PaystreamRuntime

/// `paystream acl`: the Kafka ACLs the fleet needs, one principal per daemon, derived from the
/// stages' declared topics. Prints; never changes the cluster.
struct AclCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "acl",
        abstract: "Print the Kafka ACLs of the fleet: one principal per daemon, granted only what its stage reads and writes.",
        discussion: """
            Every daemon gets Read+Describe on the topics its group consumes and the reference, changelog and snapshot topics \
            it reads in full, Write+Describe on what it publishes (outputs, dead letters, forwarded copies, its changelog and \
            snapshots), and Read on its consumer group; nothing else (no Create, Delete, Alter, cluster or transactional grant). \
            Upstream order systems may only write payments.requests. docs/operations.md, "Security model", explains it.
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case table, bindings, commands
    }

    @Option(name: .customLong("topic-prefix"), help: "Prefix of every topic name and group (env PAYSTREAM_TOPIC_PREFIX).")
    var topicPrefix: String?

    @Option(help: "Prefix of the principals: a daemon's is this followed by its name.")
    var principalPrefix = "User:paystream-"

    @Option(help: "table (readable), bindings (one ACL binding a line), or commands (kafka-acls.sh invocations).")
    var format: Format = .table

    @Option(help: "For --format commands: the bootstrap server the commands name.")
    var bootstrapServer = "$PAYSTREAM_BROKERS"

    func run() throws {
        let prefix = topicPrefix ?? ProcessInfo.processInfo.environment["PAYSTREAM_TOPIC_PREFIX"] ?? ""
        print(Self.render(FleetAccess.matrix(topics: TopicNames(prefix: prefix), principalPrefix: principalPrefix), format: format,
                          bootstrapServer: bootstrapServer), terminator: "")
    }

    static func render(_ matrix: [(who: String, access: BrokerAccess)], format: Format, bootstrapServer: String) -> String {
        var out = ""
        for (who, access) in matrix {
            switch format {
            case .table:
                out += "# \(who): \(access.principal)\n"
                let byResource = Dictionary(grouping: access.bindings, by: \.resource)
                for resource in byResource.keys.sorted() {
                    let operations = byResource[resource]!.map(\.operation.rawValue).joined(separator: ",")
                    out += "  \(resource.kind.padding(toLength: 6, withPad: " ", startingAt: 0)) \(resource.name.padding(toLength: 44, withPad: " ", startingAt: 0)) \(operations)\n"
                }
                out += "\n"
            case .bindings:
                for (resource, operation) in access.bindings {
                    out += "(principal=\(access.principal), host=*, operation=\(operation.rawValue.uppercased()), permissionType=ALLOW) "
                        + "ResourcePattern(resourceType=\(resource.kind.uppercased()), name=\(resource.name), patternType=LITERAL)\n"
                }
            case .commands:
                out += "# \(who)\n"
                let byResource = Dictionary(grouping: access.bindings, by: \.resource)
                for resource in byResource.keys.sorted() {
                    let operations = byResource[resource]!.map { "--operation \($0.operation.rawValue)" }.joined(separator: " ")
                    out += "kafka-acls.sh --bootstrap-server \(bootstrapServer) --command-config admin.properties --add "
                        + "--allow-principal '\(access.principal)' \(operations) --\(resource.kind) '\(resource.name)'\n"
                }
            }
        }
        return out
    }
}
