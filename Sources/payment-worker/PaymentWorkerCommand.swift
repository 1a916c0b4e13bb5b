import ArgumentParser
import PaystreamRuntime
import PaystreamStages

@main
struct PaymentWorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "payment-worker",
        abstract: "Authorizes payment requests and confirms them with the payment channels.",
        discussion: "Configuration: flags, then PAYSTREAM_* environment variables, then the YAML file (--config), then defaults. See Config/README.md.")

    @OptionGroup var options: DaemonOptions

    func run() async throws {
        let code = await Daemon.run(name: "payment-worker", options: options, stageDefaults: PaymentStage.Settings()) { config in
            PaymentStage(topics: config.topics,
                         policy: try PaymentStage.loadPolicy(config.stage, configFile: config.configFile),
                         reference: StaticReferenceData(),  // TODO(reference feed): the live reference topics
                         settings: config.stage)
        }
        if code != 0 { throw ExitCode(code) }
    }
}
