import ArgumentParser
import PaystreamRuntime
import ChannelSandbox

@main
struct ChannelSandboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "channel-sandbox",
        abstract: "Plays the external payment channels for development and tests.",
        discussion: "Configuration: flags, then PAYSTREAM_* environment variables, then the YAML file (--config), then defaults. See Config/README.md.")

    @OptionGroup var options: DaemonOptions

    func run() async throws {
        let code = await Daemon.run(name: "channel-sandbox", options: options, stageDefaults: ChannelSandboxStage.Settings()) { config in
            ChannelSandboxStage(topics: config.topics, settings: config.stage, stateDirectory: config.stateDirectory,
                                answerKeys: try AnswerKeyring.signing(config.stage.answers, signers: ChannelSandboxStage.signers(config.stage),
                                                                      daemon: "channel-sandbox"))
        }
        if code != 0 { throw ExitCode(code) }
    }
}
