import ArgumentParser
import Foundation
import PaystreamStore
import Notifier
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaystreamReference
import PaystreamRuntime

/// `paystream webhooks test|replay`: a signed test delivery to an endpoint, and the re-sending of
/// given-up deliveries from `notifications.webhooks.dlq`. Both sign with the endpoint's secrets
/// from the credentials folder, as the notifier does; neither prints a secret.
struct WebhooksCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "webhooks",
        abstract: "Send a signed test delivery to a webhook endpoint, or re-send dead-lettered deliveries.",
        subcommands: [Test.self, Replay.self])

    struct Signing: ParsableArguments {
        @Option(name: .customLong("credentials-directory"),
                help: "Folder of the endpoints' secret files, webhook_<endpoint_id> (default $CREDENTIALS_DIRECTORY).")
        var credentialsDirectory: String?

        @Option(help: "Seconds one delivery may take.")
        var timeout: Double = 15

        @Option(help: ArgumentHelp("An address range (CIDR) that may be reached although it is not public, over http too (repeatable; as the notifier's stage.webhooks.allow). Without it: https to public addresses only.", valueName: "cidr"))
        var allow: [String] = []

        func validate() throws {
            for range in allow where IPRange(range) == nil {
                throw ValidationError("--allow \(range): not an address range (CIDR, e.g. 10.1.2.0/24 or fd00::/8)")
            }
        }

        var folder: String? {
            credentialsDirectory ?? ProcessInfo.processInfo.environment["CREDENTIALS_DIRECTORY"].flatMap { $0.isEmpty ? nil : $0 }
        }

        func deliver(to endpoint: WebhookEndpointReference, webhookID: String, body: Data) async -> WebhookAnswer {
            do {
                let secrets = try WebhookCredentials.secrets(endpointID: endpoint.endpointId, folder: folder)
                return await WebhookSender.send(url: endpoint.url, webhookID: webhookID, body: body, secrets: secrets, timestamp: Date(),
                                                timeout: .milliseconds(Int(timeout * 1000)),
                                                policy: WebhookAddressPolicy(allow: allow.compactMap(IPRange.init)))
            } catch {
                return WebhookAnswer(status: nil, error: error.description, duration: .zero)
            }
        }
    }

    /// Every endpoint as `reference.webhook-endpoints` holds it now (a tombstone deletes one).
    static func endpoints(cluster: ClusterOptions, timeout: Duration) async throws -> [String: WebhookEndpointReference] {
        let topic = cluster.topics.webhookEndpoints
        let (records, _, _) = try await readToEnd(cluster: cluster, timeout: timeout) { existing in
            guard existing[topic] != nil else { throw DeadLetterError("no topic \(topic); create it with `paystream topics create`") }
            return [topic]
        }
        var endpoints: [String: WebhookEndpointReference] = [:]
        for record in records.sorted(by: { ($0.partition, $0.offset) < ($1.partition, $1.offset) }) {
            guard let key = record.keyString else { continue }
            if record.value.isEmpty { endpoints[key] = nil; continue }
            if case .webhookEndpoint(let endpoint)? = try? ReferenceUpdate.decode(Data(record.value), kind: .webhookEndpoint, key: key) {
                endpoints[key] = endpoint
            }
        }
        return endpoints
    }

    static func describe(_ answer: WebhookAnswer) -> String {
        let ms = answer.duration.components.seconds * 1000 + answer.duration.components.attoseconds / 1_000_000_000_000_000
        if let status = answer.status { return "HTTP \(status) in \(ms) ms" }
        return answer.error ?? "no answer"
    }

    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send a signed webhook.test delivery to an endpoint and print its answer.",
            discussion: "Exit 0 on a 2xx answer, 1 otherwise (the answer or the error is printed). A disabled endpoint is tested too.")

        @OptionGroup var cluster: ClusterOptions
        @OptionGroup var signing: Signing

        @Argument(help: "The endpoint id, as registered on reference.webhook-endpoints.")
        var endpoint: String

        func run() async throws {
            let endpoints = try await WebhooksCommand.endpoints(cluster: cluster, timeout: .seconds(30))
            guard let found = endpoints[endpoint] else {
                printError("paystream webhooks test: no endpoint \(endpoint) on \(cluster.topics.webhookEndpoints)")
                throw ExitCode(1)
            }
            let id = "test:\(endpoint):\(UUID().uuidString.lowercased())"
            let body = try Wire.encode(WebhookPayload(
                type: "webhook.test", timestamp: Wire.timestamp(Date()),
                data: WebhookTestData(endpointId: endpoint, message: "A test delivery from paystream webhooks test")))
            let answer = await signing.deliver(to: found, webhookID: id, body: body)
            print("\(endpoint) \(found.url)\(found.enabled ? "" : " (disabled)"): \(WebhooksCommand.describe(answer)), webhook-id \(id)")
            if !answer.isDelivered { throw ExitCode(1) }
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-send dead-lettered webhook deliveries (notifications.webhooks.dlq) to their endpoints.",
            discussion: """
                Each delivery goes with its own webhook-id and the exact body the notifier's shard recorded for it \
                (under --state-dir; never a body read from the topic, which anyone who can write to it could have put \
                there), signed anew, to the endpoint's current URL; receivers that dedupe by webhook-id see it once. A \
                dead letter whose delivery no notifier shard has (its retention passed, or it was never the notifier's) \
                is skipped. Deliveries whose endpoint is deleted or still disabled \
                are skipped (enable it with `paystream reference load`, check it with `paystream webhooks test`). \
                The topic is a log: a delivery that fails again stays on it and can be replayed later. \
                Exit 1 when one failed or was skipped.
                """)

        @OptionGroup var cluster: ClusterOptions
        @OptionGroup var signing: Signing

        @Option(help: "Only this endpoint's deliveries (repeatable).")
        var endpoint: [String] = []

        @Option(name: .customLong("webhook-id"), help: "Only this delivery (repeatable).")
        var webhookID: [String] = []

        @Option(help: "Only deliveries given up for this reason: \(WebhookDeadLetter.reasons.joined(separator: ", ")).")
        var reason: String?

        @Flag(help: "List what would be sent; send nothing.")
        var dryRun = false

        @Option(name: .customLong("state-dir"), help: "The daemons' state directory, where the notifier's shards keep each delivery's body (default: $PAYSTREAM_STATE_DIR).")
        var stateDirectory: String?

        func validate() throws {
            if let reason, !WebhookDeadLetter.reasons.contains(reason) {
                throw ValidationError("--reason \(reason): expected one of \(WebhookDeadLetter.reasons.joined(separator: ", "))")
            }
        }

        func run() async throws {
            let topic = cluster.topics.webhookDeadLetters
            let (records, _, _) = try await readToEnd(cluster: cluster, timeout: .seconds(60)) { existing in
                guard existing[topic] != nil else { throw DeadLetterError("no topic \(topic); create it with `paystream topics create`") }
                return [topic]
            }
            // One per delivery (a letter published twice, by a retried outbox, is one).
            var letters: [String: WebhookDeadLetter] = [:]
            var unreadable = 0
            for record in records {
                guard let letter = try? Wire.decode(WebhookDeadLetter.self, from: Data(record.value)),
                      letter.schema == WebhookDeadLetter.schemaName else { unreadable += 1; continue }
                letters[letter.eventId] = letter
            }
            let chosen = letters.values.filter { letter in
                (endpoint.isEmpty || endpoint.contains(letter.endpointId)) && (webhookID.isEmpty || webhookID.contains(letter.webhookId))
                    && (reason == nil || letter.reason == reason)
            }.sorted { ($0.deadLetteredAt, $0.eventId) < ($1.deadLetteredAt, $1.eventId) }
            guard let directory = stateDirectory ?? ProcessInfo.processInfo.environment["PAYSTREAM_STATE_DIR"], !directory.isEmpty else {
                throw ValidationError("no state directory: pass --state-dir or set PAYSTREAM_STATE_DIR (the notifier's shards hold the bodies sent)")
            }
            let bodies = try Self.recordedBodies(of: chosen, stateDirectory: directory)
            let endpoints = try await WebhooksCommand.endpoints(cluster: cluster, timeout: .seconds(30))
            var delivered = 0, failed = 0, skipped = 0
            for letter in chosen {
                let line = "\(letter.webhookId) → \(letter.endpointId) (\(letter.eventType), \(letter.reason))"
                guard let body = bodies[Key(webhookID: letter.webhookId, endpointID: letter.endpointId)] else {
                    print("\(line): skipped, no notifier shard under \(directory) recorded this delivery (retention passed, or not the notifier's)")
                    skipped += 1
                    continue
                }
                if body != Data(letter.body.utf8) {
                    print("\(line): the dead letter's body differs from what the notifier recorded; the recorded one is sent")
                }
                guard let target = endpoints[letter.endpointId] else {
                    print("\(line): skipped, the endpoint is deleted")
                    skipped += 1
                    continue
                }
                guard target.enabled else {
                    print("\(line): skipped, the endpoint is disabled\(target.disabledReason.map { " (\($0))" } ?? "")")
                    skipped += 1
                    continue
                }
                if dryRun {
                    print("\(line): would send to \(target.url)")
                    continue
                }
                let answer = await signing.deliver(to: target, webhookID: letter.webhookId, body: body)
                print("\(line): \(WebhooksCommand.describe(answer))")
                if answer.isDelivered { delivered += 1 } else { failed += 1 }
            }
            print("\(chosen.count) of \(letters.count) dead-lettered deliveries chosen: \(delivered) delivered, \(failed) failed, \(skipped) skipped"
                  + (dryRun ? " (dry run)" : "") + (unreadable > 0 ? "; \(unreadable) unreadable record(s) ignored" : ""))
            if failed > 0 || skipped > 0 { throw ExitCode(1) }
        }

        struct Key: Hashable {
            let webhookID: String
            let endpointID: String
        }

        /// The bodies the notifier's shards recorded for these deliveries (any shard may hold one).
        static func recordedBodies(of letters: [WebhookDeadLetter], stateDirectory: String) throws -> [Key: Data] {
            var found: [Key: Data] = [:]
            for path in ShardStore.paths(stateDirectory: stateDirectory, stage: "notifier") {
                try ShardStore.readOnly(path: path) { db in
                    for letter in letters {
                        let key = Key(webhookID: letter.webhookId, endpointID: letter.endpointId)
                        guard found[key] == nil else { continue }
                        if let body = try WebhookTables.recordedBody(db, webhookID: letter.webhookId, endpointID: letter.endpointId) {
                            found[key] = body
                        }
                    }
                }
            }
            return found
        }
    }
}
