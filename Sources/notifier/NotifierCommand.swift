import ArgumentParser
import PaystreamReference
import PaystreamRuntime
import Notifier

@main
struct NotifierCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notifier",
        abstract: "Publishes a notification per recipient for payment and settlement events.",
        discussion: "Configuration: flags, then PAYSTREAM_* environment variables, then the YAML file (--config), then defaults. See Config/README.md.")

    @OptionGroup var options: DaemonOptions

    func run() async throws {
        let code = await Daemon.run(name: "notifier", options: options, stageDefaults: NotifierStage.Settings()) { config in
            NotifierStage(topics: config.topics, settings: config.stage,
                          templates: try NotifierStage.loadTemplates(config.stage, configFile: config.configFile),
                          reference: LiveReferenceData(topics: config.topics, kinds: NotifierStage.referenceKinds))
        }
        if code != 0 { throw ExitCode(code) }
    }
}
