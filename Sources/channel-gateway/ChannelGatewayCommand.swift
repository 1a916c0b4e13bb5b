import ArgumentParser
import ChannelGateway
import Foundation
import PaystreamRuntime

@main
struct ChannelGatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "channel-gateway",
        abstract: "Answers channel instructions through the real channels (Alipay, WeChat Pay APIv3) and receives their notifications.",
        discussion: "Configuration: flags, then PAYSTREAM_* environment variables, then the YAML file (--config), then defaults. Keys are files in $CREDENTIALS_DIRECTORY. See Config/README.md and docs/channels.md.")

    @OptionGroup var options: DaemonOptions

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let code = await Daemon.run(name: "channel-gateway", options: options, stageDefaults: GatewaySettings()) { config in
            ChannelGatewayStage(topics: config.topics, settings: config.stage,
                                connectors: try GatewayCredentials.connectors(config.stage, environment: environment),
                                answerKeys: try GatewayCredentials.answerKeys(config.stage, environment: environment))
        } services: { config, stage, logger in
            [try CallbackService(settings: config.stage, connectors: stage.connectorList, kafka: config.kafka, topics: config.topics, logger: logger)]
        }
        if code != 0 { throw ExitCode(code) }
    }
}
