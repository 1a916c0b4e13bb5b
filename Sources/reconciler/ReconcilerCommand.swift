import ArgumentParser
import PaystreamRuntime
import ReconciliationWorker

@main
struct ReconcilerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reconciler",
        abstract: "Matches channel statement lines with captured and refunded payments and publishes the results.",
        discussion: "Configuration: flags, then PAYSTREAM_* environment variables, then the YAML file (--config), then defaults. See Config/README.md.")

    @OptionGroup var options: DaemonOptions

    func run() async throws {
        let code = await Daemon.run(name: "reconciler", options: options, stageDefaults: try ReconciliationStage.Settings()) { config in
            ReconciliationStage(topics: config.topics, settings: config.stage)
        }
        if code != 0 { throw ExitCode(code) }
    }
}
