import ArgumentParser
import Foundation
import PaystreamFaults

@main
struct FaultsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "paystream-faults",
        abstract: "Run the whole pipeline under faults and hostile input, then check that no money was lost, created or charged twice.",
        discussion: """
            Starts a Tansu broker on a free loopback port and the four daemons as processes (sandbox \
            anomalies on, authorizations queried after 2 s and expired 3 s later), publishes seeded mixed \
            load in rounds (every request type and method, refunds, cancels, exact and conflicting \
            duplicates, each payer through one of three upstream partitioners) and fuzzed records on \
            every input topic, SIGKILLs a random daemon after each round and restarts it, freezes one \
            payment-worker past its session timeout (a zombie), and freezes the \
            broker once if asked. Then it waits for every outcome, stops the daemons with SIGTERM and \
            checks, on every shard rebuilt from the changelogs (each equal to the freshest copy a host \
            kept): exactly one terminal outcome per request, an answer for every hostile record, no \
            event id with two contents, no stage_error, `paystream verify` in every shard, captured = \
            booked payment by payment, refunds equal. Prints a summary; exits 1 if a check fails.

            --short is the CI form (600 requests, 10 kills); --long the full one (10,000 requests, \
            100 kills, the broker frozen for 30 s). Explicit options override a preset.
            """)

    @Flag(help: "The CI form: 600 requests, 10 kills, no freeze.")
    var short = false

    @Flag(help: "The long form: 10,000 requests, 100 kills, the broker frozen for 30 s once.")
    var long = false

    @Option(help: "Seed of the load, the kill schedule, the hostile records and the sandbox.")
    var seed: UInt64 = 20_261_130

    @Option(help: "Requests to publish (duplicates included).")
    var requests: Int?

    @Option(help: "SIGKILLs (each daemon is killed at least once when there are 4 or more).")
    var kills: Int?

    @Option(name: .customLong("freeze-broker"), help: "Seconds the broker is frozen (SIGSTOP) once, a little after halfway; 0 for never.")
    var freezeSeconds: Int?

    @Option(help: "Partitions per topic.")
    var partitions: Int32 = 4

    @Option(help: "Hosts (state folders) the daemons run on, 1 or 2; with 2, the second is lost once halfway (its daemons killed, its folder deleted).")
    var hosts: Int = 2

    @Flag(inversion: .prefixedNo, help: "With two hosts, freeze host A's payment-worker (SIGSTOP) past its session timeout once, two thirds of the way, then let it go on (a zombie).")
    var zombie = true

    @Option(help: "Hostile records (default: requests / 20).")
    var fuzz: Int?

    @Flag(name: .customLong("channel-gateway"), help: "Alipay and WeChat Pay payments through channel-gateway (one per host, killed like the others) and the channel simulators, which misbehave; otherwise the sandbox answers every method.")
    var channelGateway = false

    @Option(name: .customLong("settle-timeout"), help: "Seconds to wait after the last round for every outcome.")
    var settleTimeout: Int = 600

    @Option(help: "Directory for configurations and daemon logs (default: a new temporary directory).")
    var directory: String?

    func validate() throws {
        if short && long { throw ValidationError("--short and --long exclude each other") }
        if let requests, requests < 1 { throw ValidationError("--requests must be at least 1") }
        if let kills, kills < 0 { throw ValidationError("--kills must not be negative") }
        if let freezeSeconds, freezeSeconds < 0 { throw ValidationError("--freeze-broker must not be negative") }
        if partitions < 1 { throw ValidationError("--partitions must be at least 1") }
        if !(1...2).contains(hosts) { throw ValidationError("--hosts must be 1 or 2") }
        if settleTimeout < 1 { throw ValidationError("--settle-timeout must be at least 1") }
    }

    func run() async throws {
        var options = FaultRun.Options()
        options.seed = seed
        options.requests = requests ?? (long ? 10_000 : 600)
        options.kills = kills ?? (long ? 100 : 10)
        options.freezeSeconds = freezeSeconds ?? (long ? 30 : 0)
        options.partitions = partitions
        options.hosts = hosts
        options.zombie = zombie
        options.fuzz = fuzz
        options.channelGateway = channelGateway
        options.settleTimeout = .seconds(settleTimeout)
        options.directory = directory
        options.progress = { line in
            FileHandle.standardError.write(Data("[faults] \(line)\n".utf8))
        }
        let report = try await FaultRun(options).run()
        print(report)
        if !report.problems.isEmpty { throw ExitCode(1) }
    }
}
