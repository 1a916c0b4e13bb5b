import Foundation
import PaystreamTesting
import Testing

/// `Deploy/install.sh` into a staging root (`--destdir`), with the binaries of this build: what it
/// installs where, with which modes; run again it changes nothing, and it never overwrites a
/// configuration file the operator edited.
@Suite("install script")
struct InstallScriptTests {
    static func install(_ destination: String, _ extra: [String] = []) throws -> (status: Int32, output: String) {
        try runTool("/bin/bash", [packageRoot.appendingPathComponent("Deploy/install.sh").path, "--destdir", destination, "--no-build",
                                  "--bin-dir", try productsDirectory().path] + extra)
    }

    static func listing(_ root: String) throws -> [String: String] {
        var result: [String: String] = [:]
        let enumerator = FileManager.default.enumerator(atPath: root)
        while let path = enumerator?.nextObject() as? String {
            let attributes = try FileManager.default.attributesOfItem(atPath: "\(root)/\(path)")
            let mode = String((attributes[.posixPermissions] as? Int ?? 0), radix: 8)
            let size = attributes[.size] as? Int ?? 0
            let modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            result[path] = "\(mode) \((attributes[.type] as? FileAttributeType) == .typeDirectory ? "dir" : "\(size) \(modified)")"
        }
        return result
    }

    @Test("binaries, units (paths rewritten), configuration, secret folders (0700) and the runbook; a second run changes nothing; an edited config is kept, the shipped one put beside it")
    func stagingRoot() throws {
        let root = try temporaryDirectory("install")
        // The staged binaries are most of a gigabyte: not left behind.
        defer { try? FileManager.default.removeItem(atPath: root) }
        let first = try Self.install(root, ["--prefix", "/opt/paystream", "--sysconfdir", "/etc/ps"])
        #expect(first.status == 0, "\(first.output)")
        let files = try Self.listing(root)
        for exe in ["payment-worker", "settlement-worker", "notifier", "reconciler", "channel-sandbox", "channel-gateway", "paystream"] {
            #expect(files["opt/paystream/bin/\(exe)"]?.hasPrefix("755 ") == true, "\(exe)")
        }
        #expect(files["etc/ps/kafka"] == "700 dir" && files["etc/ps/webhooks"] == "700 dir" && files["etc/ps/channels"] == "700 dir")
        #expect(files["etc/ps/notifier.yaml"] != nil && files["etc/ps/notification-templates.yaml"] != nil
                && files["etc/ps/payment-policy.json"] != nil && files["etc/ps/paystream.env"] != nil)
        #expect(files["opt/paystream/share/doc/paystream/operations.md"] != nil)
        let unit = try String(contentsOfFile: "\(root)/etc/systemd/system/paystream-notifier@.service", encoding: .utf8)
        #expect(unit.contains("ExecStart=/opt/paystream/bin/notifier --config /etc/ps/notifier.yaml --instance-id %i"))
        #expect(unit.contains("LoadCredential=webhook:/etc/ps/webhooks") && !unit.contains("/usr/local/bin"))
        #expect(files["etc/systemd/system/paystream.target"] != nil)

        let second = try Self.install(root, ["--prefix", "/opt/paystream", "--sysconfdir", "/etc/ps"])
        #expect(second.status == 0 && !second.output.contains(".dist"), "\(second.output)")
        let again = try Self.listing(root)
        // Units and configuration untouched (binaries and docs are copied anew each time).
        for (path, entry) in files where path.hasPrefix("etc/") { #expect(again[path] == entry, "\(path)") }

        try "brokers: kafka-1:9092\n".write(toFile: "\(root)/etc/ps/notifier.yaml", atomically: true, encoding: .utf8)
        let third = try Self.install(root, ["--prefix", "/opt/paystream", "--sysconfdir", "/etc/ps"])
        #expect(third.status == 0 && third.output.contains("kept your \(root)/etc/ps/notifier.yaml"), "\(third.output)")
        #expect(try String(contentsOfFile: "\(root)/etc/ps/notifier.yaml", encoding: .utf8) == "brokers: kafka-1:9092\n")
        #expect(FileManager.default.fileExists(atPath: "\(root)/etc/ps/notifier.yaml.dist"))

        let refused = try Self.install(root, ["--create-topics"])
        #expect(refused.status == 2 && refused.output.contains("--create-topics needs --brokers"))
    }
}
